"""stream {} servers against a real nginx (facts §7, last point): `on` closes a connection
without a valid certificate, `optional` proxies it, a client CA alone checks nothing, and a
`map` on $ssl_client_verify that picks the proxy_pass target can hold. The linter agrees,
and MTLS002's structured fix, applied, closes the hole and quiets it.

Debian's nginx needs `load_module` for stream {} (package libnginx-mod-stream).
"""

from __future__ import annotations

import os
import re
import socket
import ssl
from pathlib import Path

import pytest

from conftest import lint_in_process
from nginx_harness import CONTENT, Nginx, built_binary, free_ports
from test_nginx import NAME, Pki, fixed_by, pki  # noqa: F401  (pki is a fixture)

pytestmark = pytest.mark.nginx
BACKEND = "server {{\n    listen 127.0.0.1:{port};\n    return 200 '{content}';\n}}\n"


def stream_server(port: int, pki: Pki, body: str, target: str) -> str:
    return (f"server {{\n    listen {port} ssl;\n    ssl_certificate {pki.server};\n"
            f"    ssl_certificate_key {pki.server_key};\n{body}\n"
            f"    proxy_pass {target};\n}}\n")


def run_stream(tmp_path: Path, label: str, stream: str, backend: int,
               binary: str | None = None) -> tuple[set, Nginx]:
    """Lint `stream` as written (listen PORT); run it bound to loopback with an http
    backend on `backend` that answers CONTENT (on `binary`, Debian's nginx by default).
    Returns (rules with severities, nginx)."""
    prefix = tmp_path / label
    nginx = Nginx(prefix, BACKEND.format(port=backend, content=CONTENT), stream_body=stream,
                  binary=binary)
    rules = {(f.rule, f.severity) for f in lint_in_process([nginx.conf]).findings}
    nginx.conf.write_text(re.sub(r"listen (\d+) ssl", r"listen 127.0.0.1:\1 ssl",
                                 nginx.conf.read_text()))
    return rules, nginx


def fetch(port: int, cert: str | None = None, key: str | None = None,
          source: str | None = None, sni: str | None = NAME) -> str:
    """What a TLS client gets through the stream server: the response text, or why none;
    `source`: the address it writes in a PROXY protocol header first; `sni`: the name it
    sends (None: no SNI)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if cert:
        context.load_cert_chain(cert, key)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            if source:
                raw.sendall(f"PROXY TCP4 {source} 127.0.0.1 40000 {port}\r\n".encode())
            with context.wrap_socket(raw, server_hostname=sni) as tls:
                tls.sendall(b"GET / HTTP/1.0\r\nHost: backend\r\n\r\n")
                data = b""
                while len(data) < 65536:
                    chunk = tls.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                return data.decode(errors="replace") or "closed without a response"
    except (OSError, ssl.SSLError) as e:
        return f"closed: {type(e).__name__}"


def test_MTLS002_stream_on_closes_optional_proxies_and_the_fix_closes_it(tmp_path, pki):
    port, backend = free_ports(2)
    body = f"    ssl_client_certificate {pki.x};\n    ssl_verify_client optional;"
    bad = stream_server(port, pki, body, f"127.0.0.1:{backend}")
    rules, nginx = run_stream(tmp_path, "optional", bad, backend)
    assert ("MTLS002", "error") in rules
    with nginx.start([port, backend]):
        assert CONTENT in fetch(port)  # no certificate: proxied
        assert CONTENT in fetch(port, pki.client_x, pki.client_x_key)
        assert CONTENT not in fetch(port, pki.client_y, pki.client_y_key)  # a bad one is not
    fixed = fixed_by("MTLS002", bad, tmp_path, stream=True)
    assert "ssl_verify_client on;" in fixed
    rules, nginx = run_stream(tmp_path, "on", fixed, backend)
    assert not {r for r, _ in rules} & {"MTLS002", "MTLS003"}
    with nginx.start([port, backend]):
        assert fetch(port).startswith("closed")  # no response at all
        assert CONTENT not in fetch(port, pki.client_y, pki.client_y_key)
        assert CONTENT in fetch(port, pki.client_x, pki.client_x_key)


def test_MTLS002_stream_client_ca_without_verify_client_checks_nothing(tmp_path, pki):
    port, backend = free_ports(2)
    conf = stream_server(port, pki, f"    ssl_client_certificate {pki.x};",
                         f"127.0.0.1:{backend}")
    conf = conf.replace("server {\n", "server {\n    # nginx-mtls-lint: cloudflare\n", 1)
    rules, nginx = run_stream(tmp_path, "ca-only", conf, backend)
    # declared Cloudflare-fronted, verifies nothing: MTLS002's (a CA loaded, no verification)
    assert ("MTLS002", "error") in rules and "MTLS001" not in {r for r, _ in rules}
    with nginx.start([port, backend]):
        assert CONTENT in fetch(port)
        assert CONTENT in fetch(port, pki.client_y, pki.client_y_key)


def test_MTLS002_stream_map_on_ssl_client_verify_can_hold(tmp_path, pki):
    port, backend, refusing = free_ports(3)
    maps = ("map $ssl_client_verify $backend {\n"
            f"    SUCCESS 127.0.0.1:{backend};\n    default 127.0.0.1:{refusing};\n}}\n")
    body = f"    ssl_client_certificate {pki.x};\n    ssl_verify_client optional;"
    rules, nginx = run_stream(tmp_path, "map", maps + stream_server(port, pki, body, "$backend"),
                              backend)
    assert ("MTLS002", "warning") in rules  # holds; `on` would need no map
    with nginx.start([port, backend]):
        assert CONTENT not in fetch(port)  # sent to a port where nothing listens
        assert CONTENT in fetch(port, pki.client_x, pki.client_x_key)
    # the same map sending NONE where SUCCESS goes is an error
    leaky = ("map $ssl_client_verify $backend {\n"
             f"    ~^FAILED 127.0.0.1:{refusing};\n    default 127.0.0.1:{backend};\n}}\n")
    rules, nginx = run_stream(tmp_path, "leaky", leaky + stream_server(port, pki, body,
                                                                       "$backend"), backend)
    assert ("MTLS002", "error") in rules
    with nginx.start([port, backend]):
        assert CONTENT in fetch(port)


def test_MTLS004_stream_expired_ca_rejects_valid_clients(tmp_path, pki):
    port, backend = free_ports(2)
    conf = stream_server(port, pki, f"    ssl_client_certificate {pki.expired_ca};\n"
                         "    ssl_verify_client on;", f"127.0.0.1:{backend}")
    rules, nginx = run_stream(tmp_path, "expired", conf, backend)
    assert ("MTLS004", "error") in rules
    with nginx.start([port, backend]):
        assert CONTENT not in fetch(port, pki.client_old, pki.client_old_key)


def test_MTLS002_stream_map_chain_is_followed_to_the_target(tmp_path, pki):
    """A chain of maps from $ssl_client_verify to the proxy_pass target: nginx evaluates it
    to the end, and so does the linter (one that sends NONE where SUCCESS goes is an error,
    not the warning of a map that holds); regex keys, `hostnames` and upstream {} names
    as targets are judged the same way."""
    port, backend, refusing = free_ports(3)
    body = f"    ssl_client_certificate {pki.x};\n    ssl_verify_client optional;"
    cases = {
        "chain-holds": ("map $ssl_client_verify $ok { SUCCESS 1; default 0; }\n"
                        f"map $ok $up {{ 1 127.0.0.1:{backend}; default 127.0.0.1:{refusing}; }}\n",
                        "warning", False),
        "chain-leaks": ("map $ssl_client_verify $failed { ~^FAILED 1; default 0; }\n"
                        f"map $failed $up {{ 1 127.0.0.1:{refusing}; default 127.0.0.1:{backend}; }}\n",
                        "error", True),
        "regex": (f"map $ssl_client_verify $up {{ ~^SUCC 127.0.0.1:{backend}; "
                  f"default 127.0.0.1:{refusing}; }}\n", "warning", False),
        "hostnames": (f"map $ssl_client_verify $up {{ hostnames; SUCCESS 127.0.0.1:{backend}; "
                      f"default 127.0.0.1:{refusing}; }}\n", "warning", False),
        "upstreams": (f"upstream good {{ server 127.0.0.1:{backend}; }}\n"
                      f"upstream bad {{ server 127.0.0.1:{refusing}; }}\n"
                      "map $ssl_client_verify $up { SUCCESS good; NONE good; default bad; }\n",
                      "error", True),
    }
    for label, (maps, severity, leaks) in cases.items():
        rules, nginx = run_stream(tmp_path, label, maps + stream_server(port, pki, body, "$up"),
                                  backend)
        assert ("MTLS002", severity) in rules, label
        with nginx.start([port, backend]):
            assert (CONTENT in fetch(port)) is leaks, label  # no certificate
            assert CONTENT in fetch(port, pki.client_x, pki.client_x_key), label
            assert CONTENT not in fetch(port, pki.client_y, pki.client_y_key), label


def test_MTLS001_ssl_preread_relay_exposes_a_loopback_server(tmp_path, pki):
    """A stream {} server that takes connections from other hosts without terminating TLS
    (`ssl_preread`, routing by `$ssl_preread_server_name` through a `map`) hands them to an
    http {} server listening on loopback only: that server's verification is the only one,
    and a Cloudflare-fronted one without it serves a direct client. The linter counts the
    loopback server as reachable (MTLS001); verifying there closes it."""
    port, inner, backend = free_ports(3)
    site = ("server {{\n    listen 127.0.0.1:{inner} ssl;\n    server_name {name};\n"
            "    real_ip_header CF-Connecting-IP;\n    set_real_ip_from 173.245.48.0/20;\n"
            f"    ssl_certificate {pki.server};\n    ssl_certificate_key {pki.server_key};\n"
            "{verify}    location / {{ proxy_pass http://127.0.0.1:{backend}; }}\n}}\n")
    relay = ("map $ssl_preread_server_name $inner {\n"
             f"    {NAME} 127.0.0.1:{inner};\n    default 127.0.0.1:{inner};\n}}\n"
             f"server {{\n    listen {port};\n    ssl_preread on;\n    proxy_pass $inner;\n}}\n")
    for label, verify, found in (
            ("open", "", True),
            ("verified", f"    ssl_client_certificate {pki.x};\n    ssl_verify_client on;\n",
             False)):
        http = BACKEND.format(port=backend, content=CONTENT) + site.format(
            inner=inner, name=NAME, verify=verify, backend=backend)
        nginx = Nginx(tmp_path / label, http, stream_body=relay)
        findings = lint_in_process([nginx.conf]).findings
        assert any(f.rule == "MTLS001" for f in findings) is found, label
        if found:  # the finding names the relay
            finding = next(f for f in findings if f.rule == "MTLS001")
            assert any("relays connections from other hosts" in r.label
                       for r in finding.related)
        nginx.conf.write_text(nginx.conf.read_text().replace(
            f"listen {port};", f"listen 127.0.0.1:{port};"))
        with nginx.start([port, inner, backend]):
            assert (CONTENT in fetch(port)) is found, label  # a direct client, no certificate
            assert CONTENT in fetch(port, pki.client_x, pki.client_x_key), label


def test_MTLS002_stream_access_phase_closes_before_the_handshake(tmp_path, pki):
    """stream {}'s access phase runs before the TLS one: `deny` (the server's, or inherited
    from stream {}) closes a client's connection before any handshake, so `optional`
    admits without a certificate only the addresses allowed (a warning). Behind
    `proxy_protocol` with `set_real_ip_from 0.0.0.0/0` the client writes an allowed address
    itself and is proxied (an error). A server that answers fixed text (`return`) proxies
    nothing (no finding). The test client comes from 127.0.0.1, outside every list."""
    port, backend = free_ports(2)
    verify = f"    ssl_client_certificate {pki.x};\n    ssl_verify_client optional;"
    target = f"127.0.0.1:{backend}"
    cases = {
        "deny-all": ("", stream_server(port, pki, verify + "\n    deny all;", target)),
        "allow-private": ("allow 10.0.0.0/8;\ndeny all;\n",
                          stream_server(port, pki, verify, target)),
    }
    for label, (level, server) in cases.items():
        rules, nginx = run_stream(tmp_path, label, level + server, backend)
        assert ("MTLS002", "warning") in rules and ("MTLS002", "error") not in rules, label
        with nginx.start([port, backend]):
            assert fetch(port).startswith("closed"), label  # before the handshake
            assert fetch(port, pki.client_x, pki.client_x_key).startswith("closed"), label
    spoofed = stream_server(port, pki, verify + "\n    set_real_ip_from 0.0.0.0/0;\n"
                            "    allow 10.1.2.3;\n    deny all;", target).replace(
                                f"listen {port} ssl", f"listen {port} ssl proxy_protocol")
    rules, nginx = run_stream(tmp_path, "spoofed", spoofed, backend)
    assert ("MTLS002", "error") in rules
    with nginx.start([port, backend]):
        assert fetch(port, source="198.51.100.7").startswith("closed")
        assert CONTENT in fetch(port, source="10.1.2.3")  # no certificate, address forged
    text = stream_server(port, pki, verify, target).replace(
        f"    proxy_pass {target};\n", '    return "maintenance\\n";\n')
    rules, nginx = run_stream(tmp_path, "return", text, backend)
    assert "MTLS002" not in {r for r, _ in rules}
    with nginx.start([port, backend]):
        assert fetch(port) == "maintenance\n"


@pytest.mark.slow
def test_MTLS106_stream_virtual_servers_the_first_name_answers(tmp_path, pki):
    """stream {} virtual servers (upstream nginx 1.26.2; `server_name` from 1.25.5): SNI
    picks the server, and of two carrying one name the first answers it, so a protected
    copy loaded second protects nothing (MTLS106); without the first copy's name the
    protected one closes a client without a certificate. A default server verifying
    another CA lets none of its clients into the named server (no Host: to route by, so no
    MTLS102 in stream): the named server's verification applies to its SNI."""
    binary = built_binary("1.26.2")
    for label in ("shadowed", "unshadowed", "default-y"):
        port, backend, other = free_ports(3)  # fresh ones: nothing left of the last case

        def server(name: str, verify: str, target: int, flags: str = "") -> str:
            named = f"    server_name {name};\n" if name else ""
            return stream_server(port, pki, named + verify, f"127.0.0.1:{target}").replace(
                f"listen {port} ssl;", f"listen {port} ssl{flags};")

        protected = server(NAME, f"    ssl_client_certificate {pki.x};\n"
                           "    ssl_verify_client on;", backend)
        first = {"shadowed": server(NAME, "", backend),
                 "unshadowed": server("other.test", f"    ssl_client_certificate {pki.x};\n"
                                      "    ssl_verify_client on;", other),
                 "default-y": server("", f"    ssl_client_certificate {pki.y};\n"
                                     "    ssl_verify_client on;", other, " default_server")}
        # the other server answers text of its own: no port left for anyone else to take
        first[label] = first[label].replace(f"    proxy_pass 127.0.0.1:{other};\n",
                                            '    return "OTHER\\n";\n')
        rules, nginx = run_stream(tmp_path, label, first[label] + protected, backend, binary)
        found = {r for r, _ in rules}
        assert ("MTLS106" in found) is (label == "shadowed"), label
        assert not found & {"MTLS102", "MTLS002"}, label
        with nginx.start([port, backend]):
            # SNI names the protected server, no certificate
            answer = fetch(port)
            assert CONTENT in answer if label == "shadowed" else answer.startswith(
                "closed"), (label, answer)
            assert CONTENT in fetch(port, pki.client_x, pki.client_x_key), label
            if label == "default-y":  # the default's CA opens nothing here
                assert CONTENT not in fetch(port, pki.client_y, pki.client_y_key)


def test_stream_level_verification_inherited_overridden_and_loopback(tmp_path, pki):
    """`ssl_client_certificate` and `ssl_verify_client on` in stream {} apply to every
    server that does not set its own: one inheriting them closes a client without a
    certificate, one with `ssl_verify_client off` proxies it (MTLS001 once declared
    Cloudflare-fronted, nothing otherwise), and `optional` in a server listening on
    loopback only (a local tunnel's entry) is not reported: no other host reaches it."""
    inherits, off, local, backend = free_ports(4)
    level = f"ssl_client_certificate {pki.x};\nssl_verify_client on;\n"
    servers = (stream_server(inherits, pki, "", f"127.0.0.1:{backend}")
               + stream_server(off, pki, "    ssl_verify_client off;", f"127.0.0.1:{backend}")
               + stream_server(local, pki, "    ssl_verify_client optional;",
                               f"127.0.0.1:{backend}").replace(
                                   f"listen {local} ssl", f"listen 127.0.0.1:{local} ssl"))
    rules, nginx = run_stream(tmp_path, "levels", level + servers, backend)
    assert not {r for r, _ in rules} & {"MTLS001", "MTLS002", "MTLS003"}
    declared = servers.replace("    ssl_verify_client off;",
                               "    # nginx-mtls-lint: cloudflare\n    ssl_verify_client off;")
    declared_rules, _ = run_stream(tmp_path, "declared", level + declared, backend)
    assert ("MTLS001", "error") in declared_rules
    with nginx.start([inherits, off, local, backend]):
        assert fetch(inherits).startswith("closed")
        assert CONTENT in fetch(inherits, pki.client_x, pki.client_x_key)
        assert CONTENT in fetch(off)
        assert CONTENT in fetch(local)  # from loopback only


@pytest.mark.slow
def test_MTLS102_stream_default_server_setting_checks_a_one_pass_handshake(tmp_path, pki):
    """stream {} virtual servers (upstream nginx 1.30.4; 1.26.2 and 1.28.0 read the same
    code): ngx_stream_ssl_handler takes `ssl_verify_client` from the default server before
    the handshake and checks the result with it when the handshake completes in one pass,
    so a client without a certificate naming a server with `ssl_verify_client on` in SNI
    is proxied on such connections. That happens when the client answers before nginx
    reads again: here nginx's worker runs at the lowest priority on the test's CPU, which
    makes it most connections (unpinned, a few in a hundred). A default with
    `ssl_reject_handshake on` is no guard; one verifying with `on` is."""
    binary = built_binary("1.30.4")
    cpu = min(os.sched_getaffinity(0))
    mask = "1" + "0" * cpu
    cases = {"off": ("", True), "reject": ("    ssl_reject_handshake on;", True),
             "on": (f"    ssl_client_certificate {pki.x};\n    ssl_verify_client on;", False)}
    for label, (default, slips) in cases.items():
        port, backend = free_ports(2)
        first = stream_server(port, pki, "    server_name other.test;\n" + default,
                              "127.0.0.1:1")
        protected = stream_server(port, pki, f"    server_name {NAME};\n"
                                  f"    ssl_client_certificate {pki.x};\n"
                                  "    ssl_verify_client on;", f"127.0.0.1:{backend}")
        rules, nginx = run_stream(tmp_path, label, first + protected, backend, binary)
        assert ("MTLS102" in {r for r, _ in rules}) is slips, label
        nginx.conf.write_text(nginx.conf.read_text().replace(
            "worker_processes 1;",
            f"worker_processes 1;\nworker_priority 19;\nworker_cpu_affinity {mask};"))
        pinned = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {cpu})
        try:
            with nginx.start([port, backend]):
                # the first slip is enough; bounded, and 200 tries when none comes
                through = any(CONTENT in fetch(port) for _ in range(200))
                assert CONTENT in fetch(port, pki.client_x, pki.client_x_key), label
        finally:
            os.sched_setaffinity(0, pinned)
        assert through is slips, label
