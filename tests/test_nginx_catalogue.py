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


ROOT = """
events {{}}
http {{
    include sites/*.conf;
{map}
}}
"""
SITE = """server {{
    listen 127.0.0.1:{port};
    location / {{ proxy_set_header Connection $connection_upgrade; proxy_pass http://127.0.0.1:9; }}
}}
"""


def test_MTLS010_a_map_of_the_root_after_the_include_defines_the_fragments_variable(tmp_path):
    """nginx resolves variables once http {} is read: the root's map, written after the
    include, defines $connection_upgrade for the site; without it `nginx -t` fails. Linted
    alone the site is no finding (its root may hold the map); the root is linted as nginx."""
    import subprocess

    for name, mapped in (("with", True), ("without", False)):
        prefix = tmp_path / name
        (prefix / "sites").mkdir(parents=True)
        line = "    map $http_upgrade $connection_upgrade { default upgrade; '' close; }"
        (prefix / "nginx.conf").write_text(ROOT.format(map=line if mapped else ""))
        (prefix / "sites" / "app.conf").write_text(SITE.format(port=free_ports(1)[0]))
        checked = subprocess.run(
            [nginx_binary(), "-t", "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
             "-e", "/dev/null", "-g", f"pid {prefix}/nginx.pid;"],
            capture_output=True, text=True, timeout=60)
        assert (checked.returncode == 0) == mapped, checked.stderr
        root = {f.rule for f in lint_in_process([prefix / "nginx.conf"]).findings}
        assert ("MTLS010" in root) == (not mapped)
        # the site found inside its root is judged with the root's map
        inside = {f.rule for f in lint_in_process([prefix / "sites" / "app.conf"]).findings}
        assert ("MTLS010" in inside) == (not mapped)
        alone = tmp_path / f"alone-{name}.conf"  # no root around it: it may hold the map
        alone.write_text((prefix / "sites" / "app.conf").read_text())
        assert "MTLS010" not in {f.rule for f in lint_in_process([alone]).findings}
