"""The variable catalogue (nginx_mtls_lint/catalogue.py) against real nginx binaries: a
variable a version lacks fails its `nginx -t` ("unknown ... variable"), and the linter judged
for that version says so (MTLS010); one it has passes both.

Run them: `pytest -m nginx -k MTLS010`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import lint_in_process
from nginx_harness import Nginx, built_binary, free_ports, nginx_binary
from nginx_mtls_lint import versions

pytestmark = pytest.mark.nginx

BODY = """
server {{
    listen 127.0.0.1:{port};
    server_name app.example.com;
    location / {{
        if ({variable} = "x") {{
            return 403;
        }}
        return 200 "ok";
    }}
}}
"""


def refused(binary: str, variable: str, prefix: Path) -> str:
    """nginx -t's complaint about the configuration, or "" when it passes."""
    nginx = Nginx(prefix, BODY.format(port=free_ports(1)[0], variable=variable), binary=binary)
    checked = nginx.check()
    return "" if checked.returncode == 0 else checked.stderr


def linted(variable: str, version: str, tmp_path: Path) -> set[str]:
    conf = tmp_path / "site.conf"
    conf.write_text(BODY.format(port=8080, variable=variable))
    result = lint_in_process([conf], target=versions.parse_target(version, "test"))
    return {f.rule for f in result.findings}


@pytest.mark.parametrize("version,variable,known", [
    ("1.28.0", "$ssl_sigalg", False), ("1.30.4", "$ssl_sigalg", True),
    ("1.26.2", "$request_port", False), ("1.30.4", "$request_port", True),
    ("1.30.4", "$ssl_client_verfiy", False), ("1.26.2", "$http_x_anything", True)])
def test_MTLS010_the_version_decides(version, variable, known, tmp_path):
    complaint = refused(built_binary(version), variable, tmp_path / "nginx")
    assert (complaint == "") == known, complaint
    if not known:
        assert f'unknown "{variable[1:]}" variable' in complaint
    assert ("MTLS010" in linted(variable, version, tmp_path)) == (not known)


def test_MTLS010_a_typo_fails_debian_nginx_and_the_linter_says_so(tmp_path):
    complaint = refused(nginx_binary(), "$ssl_client_verfiy", tmp_path / "nginx")
    assert 'unknown "ssl_client_verfiy" variable' in complaint
    assert "MTLS010" in linted("$ssl_client_verfiy", "1.22.1", tmp_path)
    assert refused(nginx_binary(), "$ssl_client_verify", tmp_path / "nginx2") == ""
    assert "MTLS010" not in linted("$ssl_client_verify", "1.22.1", tmp_path)
