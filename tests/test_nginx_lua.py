"""OpenResty's Lua handlers of the access phase, on Debian's nginx with libnginx-mod-http-lua:
Lua code that tests $ssl_client_verify keeps a client without a certificate out; Lua code that
does not, does not. The linter cannot run Lua: for code that reads the client certificate
MTLS002 says the answer is unknown (a warning), and for code that does not it stays an error.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import lint_in_process, skip_or_fail
from nginx_harness import Nginx, free_ports
from test_nginx import (Pki, client, pki, probe_outcomes, run, server,  # noqa: F401
                        without_certificate)
from nginx_mtls_lint import probe

pytestmark = pytest.mark.nginx
MODULES = [Path("/usr/lib/nginx/modules/ndk_http_module.so"),
           Path("/usr/lib/nginx/modules/ngx_http_lua_module.so")]
LUA_CHECK = """    access_by_lua_block {
        if ngx.var.ssl_client_verify ~= "SUCCESS" then
            return ngx.exit(ngx.HTTP_FORBIDDEN)
        end
    }
"""


def lua_server(port: int, pki: Pki, lua: str) -> str:
    return server(port, pki, "    real_ip_header CF-Connecting-IP;\n"
                  "    set_real_ip_from 173.245.48.0/20;\n"
                  f"    ssl_client_certificate {pki.x};\n    ssl_verify_client optional;\n" + lua)


def start_with_lua(nginx):
    missing = [str(m) for m in MODULES if not m.exists()]
    if missing:
        skip_or_fail(f"{', '.join(missing)} absent (apt-get install libnginx-mod-http-lua)")
    nginx.conf.write_text("".join(f"load_module {m};\n" for m in MODULES) + nginx.conf.read_text())
    return nginx


def severities(tmp_path: Path, http: str, rule: str) -> set[str]:
    """The severities of `rule` on `http` as written (listening on every address)."""
    conf = Nginx(tmp_path / "as-written", http.replace("__ROOT__", "/srv")).conf
    return {f.severity for f in lint_in_process([conf]).findings if f.rule == rule}


def test_MTLS002_lua_check_on_ssl_client_verify_holds_and_is_an_unknown_check(tmp_path, pki):
    port, = free_ports(1)
    http = lua_server(port, pki, LUA_CHECK)
    assert severities(tmp_path, http, "MTLS002") == {"warning"}  # the Lua code decides
    assert not severities(tmp_path, http, "MTLS006")
    _, nginx = run(tmp_path, "checked", http, [port])
    with start_with_lua(nginx).start([port]):
        outcomes = probe_outcomes(port, pki, **client(pki, "x"))
    assert not probe.bypassed(without_certificate(outcomes))
    assert outcomes["SNI, given certificate"].verdict == "CONTENT SERVED"


def test_MTLS002_lua_code_that_does_not_read_the_certificate_checks_nothing(tmp_path, pki):
    port, = free_ports(1)
    unrelated = LUA_CHECK.replace("ngx.var.ssl_client_verify ~= \"SUCCESS\"",
                                  "ngx.var.http_x_debug == \"1\"")
    http = lua_server(port, pki, unrelated)
    assert severities(tmp_path, http, "MTLS002") == {"error"}
    _, nginx = run(tmp_path, "unrelated", http, [port])
    with start_with_lua(nginx).start([port]):
        outcomes = probe_outcomes(port, pki)
    assert probe.bypassed(without_certificate(outcomes))
