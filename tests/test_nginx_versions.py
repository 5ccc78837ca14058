"""Version-dependent verdicts on both sides of each boundary, against upstream nginx 1.26.2,
1.28.0 and 1.30.4 built from ../shared/data/nginx-src (tests/nginx_builds.py, cached per
machine) and Debian's nginx: the linter judged for a version says what that nginx does.

Run them: `pytest -m nginx tests/test_nginx_versions.py`.
"""

from __future__ import annotations

import json
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

from conftest import run_cli, shared_file
from nginx_harness import CONTENT, Nginx, built_binary, free_ports, nginx_binary
from nginx_mtls_lint import probe, versions
from nginx_mtls_lint.rules import RuleContext
from test_nginx import Pki, pki  # noqa: F401  (the real-nginx suite's PKI fixture)

NAME, OTHER = "protected.test", "other.test"
DEBIAN = "debian"  # Debian's packaged nginx (patched for CVE-2025-23419)
UPSTREAM = ("1.26.2", "1.28.0", "1.30.4")


def binary(version: str) -> str:
    return nginx_binary() if version == DEBIAN else built_binary(version)


def judged_as(version: str) -> str:
    """The --nginx-version the linter is given for each binary."""
    if version != DEBIAN:
        return version
    found = versions.from_this_machine()
    if found is None or found.package is None:
        pytest.skip("Debian's nginx package version is not known on this machine")
    return found.package


def server(port: int, pki: Pki, name: str, body: str, flags: str = "") -> str:
    return (f"server {{\n    listen 127.0.0.1:{port} ssl{flags};\n    server_name {name};\n"
            f"    ssl_certificate {pki.server};\n"
            f"    ssl_certificate_key {pki.server_key};\n    root __ROOT__;\n{body}\n}}\n")


def verify(pki: Pki, ca: str, directive: str = "ssl_client_certificate") -> str:
    return f"    {directive} {getattr(pki, ca)};\n    ssl_verify_client on;"


def shared_socket(port: int, pki: Pki, http: str = "", protected: str = "",
                  other: str = "", default: str = "    ssl_reject_handshake on;") -> str:
    """CVE-2025-23419's topology: a default server, other.test verifying CA Y and the
    protected server verifying CA X, on one address:port."""
    return (http + server(port, pki, "default.test", default, " default_server")
            + server(port, pki, OTHER, verify(pki, "y") + "\n" + other)
            + server(port, pki, NAME, verify(pki, "x") + "\n" + protected))


def nginx_for(tmp_path: Path, label: str, version: str, http: str) -> Nginx:
    prefix = tmp_path / label
    return Nginx(prefix, http.replace("__ROOT__", str(prefix / "www")), binary=binary(version))


def lint_findings(nginx: Nginx, version: str | None) -> list:
    """The linter's findings on the nginx's configuration, judged for `version`."""
    from nginx_mtls_lint.lint import LintOptions, lint

    target = versions.parse_target(version, "test") if version else versions.UNKNOWN
    return lint([str(nginx.conf)], LintOptions(context=RuleContext(target=target))).findings


def lint_rules(nginx: Nginx, version: str | None) -> dict[str, str]:
    """{rule: severity} of the linter's findings on the nginx's configuration."""
    return {f.rule: f.severity for f in lint_findings(nginx, version)}


def emerg(checked: subprocess.CompletedProcess) -> str:
    """nginx -t's own words for what it refused."""
    return re.search(r"\[emerg\] (.*?)(?: in /.*)?$", checked.stderr, re.MULTILINE).group(1)


def resumption(port: int, pki: Pki, **kw) -> dict[str, probe.Outcome]:
    target = probe.Target("127.0.0.1", port, NAME, client_cert=pki.client_y,
                          client_key=pki.client_y_key, other_name=OTHER,
                          content_marker=CONTENT, timeout=5, **kw)
    cases = [c for c in probe.default_cases(target) if c.session_from is not None]
    target.cases = cases
    return {o.case.split(" resumed")[0]: o for o in probe.probe(target)}


# --------------------------------------------------------------------------- the builds

@pytest.mark.nginx
@pytest.mark.parametrize("version", UPSTREAM)
def test_each_upstream_build_reports_its_version(version):
    result = subprocess.run([built_binary(version), "-V"], capture_output=True, text=True,
                            timeout=10)
    target = versions.from_nginx_v(result.stderr, "nginx -V")
    assert target is not None and versions.shown(target.upstream) == version
    assert target.distribution_build is None  # judged by its upstream version


def test_boundaries_without_a_binary_match_nginx_changes():
    """1.19.4 (ssl_reject_handshake) is older than any binary here: the data file's
    boundaries are checked against the CHANGES of the newest source tree instead."""
    with tarfile.open(shared_file("data/nginx-src/nginx-1.30.4.tar.gz")) as archive:
        changes = archive.extractfile("nginx-1.30.4/docs/xml/nginx/changes.xml").read().decode()
    entries: dict[str, str] = {}
    for version, body in re.findall(r'<changes ver="([\d.]+)"[^>]*>(.*?)</changes>', changes,
                                    re.S):
        entries[version] = " ".join(body.split())
    facts = versions.facts()
    assert 'the "ssl_reject_handshake" directive' in entries[
        facts["directives"]["ssl_reject_handshake"]["since"]]
    assert 'the "http2" directive' in entries[facts["directives"]["http2"]["since"]]
    assert 'the deprecated "ssl" directive is not supported anymore' in entries[
        facts["directives"]["ssl"]["until"]]
    assert "TLSv1.3 protocol is enabled by default" in entries[
        facts["tls13_default_since"]["version"]]
    assert "CVE-2025-23419" in entries["1.27.4"]
    assert versions.parse_target("1.19.3", "t").has("ssl_reject_handshake") is False
    assert versions.parse_target("1.19.4", "t").has("ssl_reject_handshake") is True


# --------------------------------------------------------------------------- nginx -t

@pytest.mark.nginx
@pytest.mark.parametrize("version,accepted", [("1.26.2", False), (DEBIAN, False),
                                              ("1.28.0", True), ("1.30.4", True)])
def test_trusted_certificate_alone_by_version(tmp_path, pki, version, accepted):
    port, = free_ports(1)
    nginx = nginx_for(tmp_path, "trusted", version,
                      server(port, pki, NAME, verify(pki, "x", "ssl_trusted_certificate")))
    checked = nginx.check()
    assert (checked.returncode == 0) == accepted, checked.stderr
    found = lint_rules(nginx, judged_as(version))
    if accepted:
        assert "MTLS003" not in found
        with nginx.start([port]):
            target = probe.Target("127.0.0.1", port, NAME, client_cert=pki.client_x,
                                  client_key=pki.client_x_key, content_marker=CONTENT)
            target.cases = [probe.Case("given", NAME, certificate="given")]
            assert probe.probe(target)[0].verdict == "CONTENT SERVED"  # verified against it
    else:
        assert found.get("MTLS003") == "error"
        message = next(f.message for f in lint_findings(nginx, judged_as(version))
                       if f.rule == "MTLS003")
        assert f'"{emerg(checked)}"' in message  # the linter quotes nginx's own words
    assert lint_rules(nginx, None).get("MTLS003") == "warning"  # unknown version


@pytest.mark.nginx
@pytest.mark.parametrize("version", ["1.26.2", DEBIAN, "1.28.0"])
def test_no_ca_at_all_is_quoted_in_the_targets_words(tmp_path, pki, version):
    port, = free_ports(1)
    nginx = nginx_for(tmp_path, "noca", version,
                      server(port, pki, NAME, "    ssl_verify_client on;"))
    checked = nginx.check()
    assert checked.returncode != 0
    message = next(f.message for f in lint_findings(nginx, judged_as(version))
                   if f.rule == "MTLS003")
    assert f'"{emerg(checked)}"' in message


@pytest.mark.nginx
@pytest.mark.parametrize("version,ssl_on,http2_on", [(DEBIAN, True, False),
                                                     ("1.26.2", False, True)])
def test_ssl_on_and_http2_on_by_version(tmp_path, pki, version, ssl_on, http2_on):
    port, = free_ports(1)
    target = versions.parse_target(judged_as(version), "test")
    for directive, exists in (("ssl", ssl_on), ("http2", http2_on)):
        nginx = nginx_for(tmp_path, directive, version,
                          server(port, pki, NAME, f"    {directive} on;"))
        assert (nginx.check().returncode == 0) == exists
        assert target.has(directive) is exists
        unknown = [f for f in lint_findings(nginx, judged_as(version)) if f.rule == "MTLS009"]
        assert bool(unknown) is not exists  # the linter agrees with `nginx -t`


# --------------------------------------------------------------------------- CVE-2025-23419

TLS13 = "ssl_protocols TLSv1.2 TLSv1.3;\n"


@pytest.mark.nginx
@pytest.mark.parametrize("version,expected", [
    ("1.26.2", "CONTENT SERVED"),  # the CVE
    ("1.28.0", "rejected"),  # handshake aborted: access_denied
    (DEBIAN, "rejected"),  # Debian's backport: aborted too
    ("1.30.4", "rejected"),  # not resumed: full handshake, 400
])
def test_MTLS105_resumption_across_servers_by_version(tmp_path, pki, version, expected):
    port, = free_ports(1)
    nginx = nginx_for(tmp_path, "cve", version, shared_socket(port, pki, http=TLS13))
    found = lint_rules(nginx, judged_as(version))
    assert ("MTLS105" in found) == (expected == "CONTENT SERVED")
    assert lint_rules(nginx, None).get("MTLS105") == "warning"
    with nginx.start([port]):
        outcomes = resumption(port, pki)
    crossing = outcomes[f"TLS 1.3 session of SNI {OTHER}"]
    assert crossing.verdict == expected, crossing
    if version == "1.26.2":
        assert "session resumed" in crossing.detail
    if version in ("1.28.0", DEBIAN):
        assert "access_denied" in crossing.detail.lower() or "ACCESS_DENIED" in crossing.detail
    if version == "1.30.4":
        assert "not resumed" in crossing.detail and crossing.status == 400


@pytest.mark.nginx
@pytest.mark.parametrize("version,tls13", [(DEBIAN, False), ("1.26.2", True)])
def test_tls13_default_boundary(tmp_path, pki, version, tls13):
    """nginx before 1.23.4 has no TLS 1.3 without ssl_protocols (Debian's 1.22.1 included):
    MTLS105 holds only where the default enables it."""
    port, = free_ports(1)
    nginx = nginx_for(tmp_path, "default-protocols", version, shared_socket(port, pki))
    judged = "1.22.1" if version == DEBIAN else version  # the upstream version: affected
    assert ("MTLS105" in lint_rules(nginx, judged)) == tls13
    with nginx.start([port]):
        target = probe.Target("127.0.0.1", port, NAME, timeout=5)
        target.cases = [probe.Case("SNI", NAME)]
        import socket
        import ssl

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                context.wrap_socket(raw, server_hostname=NAME) as conn:
            assert (conn.version() == "TLSv1.3") == tls13


FIXES_1_26_2 = {
    # the rule's fix hints, in its order (upgrading is the test above)
    "tickets off": dict(http=TLS13 + "ssl_session_tickets off;\n"),
    "issuer pin": dict(http=TLS13, protected='    if ($ssl_client_i_dn != "CN=Protected '
                       'Client CA") { return 403; }'),
    "TLS 1.2 only": dict(http="ssl_protocols TLSv1.2;\n"),
}


@pytest.mark.nginx
@pytest.mark.parametrize("fix", FIXES_1_26_2)
def test_MTLS105_each_fix_closes_it_on_1_26_2(tmp_path, pki, fix):
    port, = free_ports(1)
    nginx = nginx_for(tmp_path, "fix", "1.26.2", shared_socket(port, pki, **FIXES_1_26_2[fix]))
    # (the issuer pin protects the server that has it; other.test stays exposed to X's clients)
    assert not [f for f in lint_findings(nginx, "1.26.2")
                if f.rule == "MTLS105" and NAME in f.server.names]
    with nginx.start([port]):
        crossing = resumption(port, pki)[f"TLS 1.3 session of SNI {OTHER}"]
    assert crossing.verdict == "rejected", crossing
    if fix == "issuer pin":
        assert crossing.status == 403 and "session resumed" in crossing.detail


@pytest.mark.nginx
def test_MTLS105_separate_ports_close_it_on_1_26_2(tmp_path, pki):
    port, other_port = free_ports(2)
    http = (TLS13 + "ssl_session_cache shared:SSL:1m;\n"
            + server(other_port, pki, OTHER, verify(pki, "y"), " default_server")
            + server(port, pki, NAME, verify(pki, "x"), " default_server"))
    nginx = nginx_for(tmp_path, "ports", "1.26.2", http)
    assert "MTLS105" not in lint_rules(nginx, "1.26.2")
    with nginx.start([port, other_port]):
        target = probe.Target("127.0.0.1", other_port, NAME, client_cert=pki.client_y,
                              client_key=pki.client_y_key, content_marker=CONTENT)
        context = probe._context(probe.Case("s", OTHER, "given", session_from=OTHER), target,
                                 ("", ""))
        session = probe._session(target, probe.Case("s", OTHER, "given", session_from=OTHER),
                                 context)
        assert not isinstance(session, probe.Outcome), session
        target.port = port
        outcome = probe.run_case(target, probe.Case("resumed", NAME, "given"), ("", ""))
    # a session from the other port is not resumed here: full handshake, the Y cert is refused
    assert outcome.verdict == "rejected" and outcome.status == 400


@pytest.mark.nginx
@pytest.mark.parametrize("where,closes", [
    ("default", True),  # before 1.29.2 the default server's settings decide
    ("protected", False),  # the protected server's own settings do not
])
def test_MTLS105_the_default_server_decides_on_1_26_2(tmp_path, pki, where, closes):
    port, = free_ports(1)
    settings = "    ssl_protocols TLSv1.2;\n    ssl_session_tickets off;"
    default = "    ssl_reject_handshake on;\n"
    kw = {"default": default + settings} if where == "default" else {"protected": settings}
    nginx = nginx_for(tmp_path, where, "1.26.2", shared_socket(port, pki, http=TLS13, **kw))
    assert ("MTLS105" in lint_rules(nginx, "1.26.2")) == (not closes)
    with nginx.start([port]):
        crossing = resumption(port, pki)[f"TLS 1.3 session of SNI {OTHER}"]
    assert (crossing.verdict == "CONTENT SERVED") == (not closes), crossing


# --------------------------------------------------------------------------- probe v2

@pytest.mark.nginx
@pytest.mark.parametrize("version,code", [("1.26.2", 1), (DEBIAN, 0)])
def test_probe_command_resumption_row(tmp_path, pki, version, code):
    port, = free_ports(1)
    nginx = nginx_for(tmp_path, "probe", version, shared_socket(port, pki, http=TLS13))
    args = ["probe", f"127.0.0.1:{port}", "--name", NAME, "--other-name", OTHER,
            "--client-cert", pki.client_y, "--client-key", pki.client_y_key,
            "--content-marker", CONTENT, "--timeout", "5", "--format", "json"]
    with nginx.start([port]):
        done = run_cli(*args)
    document = json.loads(done.stdout)
    rows = {r["case"].split(" resumed")[0]: r for r in document["results"]}
    crossing = rows[f"TLS 1.3 session of SNI {OTHER}"]
    assert done.returncode == code, done.stderr
    assert (crossing["verdict"] == "CONTENT SERVED") == (code == 1)
    assert document["client_ca_names"] == ["CN=Protected Client CA"]
    assert document["asks_cloudflare_origin_pull_ca"] is False


def test_probe_against_a_closed_port_is_not_a_pass():
    port, = free_ports(1)  # nothing listens there
    done = run_cli("probe", f"127.0.0.1:{port}", "--name", NAME, "--timeout", "2")
    assert done.returncode == 2
    assert "no case reached the origin" in done.stderr.decode()
    assert "unreachable" in done.stdout.decode() and "rejected" not in done.stdout.decode()


def test_probe_against_a_port_that_does_not_speak_tls_is_unreachable():
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]

    def answer():
        for _ in range(16):
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(4096)
                conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")

    threading.Thread(target=answer, daemon=True).start()
    try:
        target = probe.Target("127.0.0.1", port, NAME, timeout=2)
        target.cases = [probe.Case("SNI, no certificate", NAME)]
        outcome, = probe.probe(target)
    finally:
        listener.close()
    assert outcome.verdict == "unreachable" and probe.exit_code([outcome]) == 2


# --------------------------------------------------------------------------- nginx -V in a dump

@pytest.mark.nginx
def test_version_is_read_from_nginx_V_before_a_dump(tmp_path, pki):
    port, = free_ports(1)
    nginx = nginx_for(tmp_path, "dump", "1.26.2", shared_socket(port, pki, http=TLS13))
    dump = subprocess.run([nginx.binary, "-V"], capture_output=True, timeout=10).stderr + \
        subprocess.run([nginx.binary, "-T", "-p", str(nginx.prefix), "-c", str(nginx.conf)],
                       capture_output=True, timeout=10).stdout
    done = run_cli("-", "--format", "json", stdin=dump)
    document = json.loads(done.stdout)
    assert document["target"]["version"] == "1.26.2"
    assert document["target"]["source"] == "nginx -V in the input"
    severities = {f["severity"] for f in document["findings"] if f["rule"] == "MTLS105"}
    assert severities == {"error"}
    console = run_cli("-", stdin=dump).stdout.decode()
    assert "judged for nginx 1.26.2, from nginx -V in the input" in console


# --------------------------------------------------------------------------- stream {}

@pytest.mark.nginx
@pytest.mark.parametrize("version,expected", [("1.26.2", "CONTENT SERVED"),
                                              ("1.28.0", "rejected")])
def test_MTLS105_stream_servers_cross_the_same_way(tmp_path, pki, version, expected):
    """stream {} virtual servers (1.25.5+): a session of other.test resumed with the
    protected name is proxied on 1.26.2; 1.28.0 checks the session's name there too."""
    port, backend = free_ports(2)

    def stream_server(name: str, ca: str) -> str:
        return (f"server {{\n    listen 127.0.0.1:{port} ssl;\n    server_name {name};\n"
                f"    ssl_certificate {pki.server};\n    ssl_certificate_key {pki.server_key};\n"
                f"{verify(pki, ca)}\n    proxy_pass 127.0.0.1:{backend};\n}}\n")

    stream = "ssl_protocols TLSv1.2 TLSv1.3;\n" + stream_server(OTHER, "y") + \
        stream_server(NAME, "x")
    backend_http = (f"server {{\n    listen 127.0.0.1:{backend};\n"
                    f"    return 200 '{CONTENT}';\n}}\n")
    prefix = tmp_path / "stream"
    nginx = Nginx(prefix, backend_http, stream_body=stream, binary=binary(version))
    found = {f.rule: f.severity for f in lint_findings(nginx, version)}
    assert ("MTLS105" in found) == (expected == "CONTENT SERVED")
    with nginx.start([port, backend]):
        crossing = resumption(port, pki)[f"TLS 1.3 session of SNI {OTHER}"]
    assert crossing.verdict == expected, crossing
