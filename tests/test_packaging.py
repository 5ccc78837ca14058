"""Packaging: Python 3.10 (tomli fallback), the licence, the sdist's contents, one homepage."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_metadata_python_310_mit_and_one_homepage():
    from nginx_mtls_lint import HOMEPAGE, RULES_URL

    assert PYPROJECT["requires-python"] == ">=3.10"
    assert PYPROJECT["license"] == "MIT"
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    assert any(d.startswith("tomli") and "python_version < '3.11'" in d
               for d in PYPROJECT["dependencies"])
    urls = PYPROJECT["urls"]
    assert urls["Homepage"] == HOMEPAGE
    assert all(url.startswith(HOMEPAGE) for url in urls.values())
    assert RULES_URL.startswith(HOMEPAGE)
    readme = (ROOT / "README.md").read_text()
    assert f"repo: {HOMEPAGE}" in readme  # the pre-commit snippet


def test_sdist_ships_no_tests_it_could_not_run():
    lines = (ROOT / "MANIFEST.in").read_text().splitlines()
    for folder in ("tests", "fixtures", "benchmarks"):
        assert f"prune {folder}" in lines


def test_config_reads_pyproject_with_tomli_where_tomllib_is_missing(tmp_path: Path,
                                                                     monkeypatch):
    from nginx_mtls_lint.config import load_config

    monkeypatch.setitem(sys.modules, "tomllib", None)  # `import tomllib` now fails, as on 3.10
    monkeypatch.setitem(sys.modules, "tomli", tomllib)  # the same parser under tomli's name
    path = tmp_path / "pyproject.toml"
    path.write_text('[tool.nginx-mtls-lint]\nfail-on = "error"\nignore = ["MTLS103"]\n')
    config = load_config(str(path), lambda key: key.upper())
    assert config.fail_on == "error" and config.ignore == ["MTLS103"]


def python_310() -> str | None:
    pyenv = Path(os.path.expanduser("~/.pyenv/versions"))  # before PATH: pyenv's shims
    candidates = [*map(str, sorted(pyenv.glob("3.10*/bin/python3.10"))),  # may not resolve
                  shutil.which("python3.10")]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


@pytest.mark.slow
def test_pip_install_and_lint_on_python_310(tmp_path: Path):
    python = python_310()
    if python is None:
        pytest.skip("no Python 3.10 interpreter on this machine")
    venv = tmp_path / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(ROOT)],
                         capture_output=True, timeout=600)
    assert pip.returncode == 0, pip.stderr.decode()[-2000:]
    (tmp_path / "pyproject.toml").write_text('[tool.nginx-mtls-lint]\nselect = ["MTLS002"]\n')
    result = subprocess.run([str(venv / "bin" / "nginx-mtls-lint"), "--format", "concise",
                             str(FIXTURES / "demo" / "nginx" / "nginx.conf")],
                            cwd=tmp_path, capture_output=True, timeout=120)
    assert result.returncode == 1, result.stderr.decode()
    # concise: `file:line:col: severity RULE message`, then a closing count
    rules = {word for line in result.stdout.decode().splitlines()
             for word in line.split()[1:3] if word.startswith("MTLS")}
    assert rules == {"MTLS002"}  # the pyproject.toml was read (tomli on 3.10)
