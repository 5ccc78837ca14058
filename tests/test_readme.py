"""The README's two commands are real: CI runs the second verbatim, the first lints the demo."""

from __future__ import annotations

import re

from conftest import ROOT


def readme_commands() -> list[str]:
    return re.findall(r"```sh\n(.+?)\n```", (ROOT / "README.md").read_text())[:2]


def test_readme_opens_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    first, second = readme_commands()
    assert text.index(first) < text.index("## Usage")
    assert "pip install ." in first and "fixtures/demo/nginx/nginx.conf" in first
    assert (ROOT / "fixtures/demo/nginx/nginx.conf").is_file()
    assert "pytest" in second


def test_ci_runs_the_readme_test_command_in_strict_mode():
    ci = (ROOT / ".ci" / "run").read_text()
    assert readme_commands()[1] in ci.splitlines()
    assert "NGINX_MTLS_LINT_STRICT=1" in ci and "apt-get install -y" in ci and "nginx" in ci
