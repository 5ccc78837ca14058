"""`probe --from-config` (issue 23) against a real nginx in a private network namespace, on the
labelled flow cases (fixtures/flow/): the configuration nginx runs gives no disagreement; a
running copy whose `ssl_verify_client` differs, or a relay in front, gives MTLS110; the
request budget and rate hold (counted on the server side); a closed port and a server that
never answers are exit 2 with nothing called refused."""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
from pathlib import Path

import pytest

from conftest import FIXTURES, run_cli, skip_or_fail
from nginx_harness import CONTENT, built_binary, nginx_binary
from nginx_mtls_lint.loader import LoadOptions
from nginx_mtls_lint.probe.from_config import parse_target, probe_config
from nginx_mtls_lint.probe.live import Options
from probe_servers import Server
from test_flow_labels import (DIRECT, EDGE, FLOW_VERSIONS, ORIGIN, in_private_network, load_case,
                              make_flow_pki, prepare, start_apps, wait_for)

FLOW = FIXTURES / "flow"


def namespace_available() -> None:
    if os.geteuid() != 0 or not shutil.which("ip"):
        skip_or_fail("probe --from-config runs nginx in a private network namespace: root "
                     "and iproute2 needed")


def options(pki: Path, **kw) -> Options:
    values = dict(timeout=3.0, deadline=120.0, budget=400, rate=200.0,
                  valid=(str(pki / "client-valid.pem"), str(pki / "client-valid.key")),
                  other=(str(pki / "client-other.pem"), str(pki / "client-other.key")),
                  marker=CONTENT, source=DIRECT, cloudflare_source=EDGE)
    values.update(kw)
    return Options(ORIGIN, **values)  # type: ignore[arg-type]


def summary(report) -> dict:
    return {"reached": report.reached, "exit": report.exit_code(),
            "disagree": [(v.row.request.describe(), v.row.expect.answer, v.row.expect.status,
                          v.row.expect.why, v.seen.answer, v.seen.detail, v.severity,
                          v.row.expect.file, v.row.expect.line)
                         for v in report.verdicts if v.agreement == "disagree"],
            "agree": sum(v.agreement == "agree" for v in report.verdicts),
            "unknown": sum(v.agreement == "unknown" for v in report.verdicts),
            "unknowns": [(v.row.request.describe(), v.row.expect.why, v.seen.answer)
                         for v in report.verdicts if v.agreement == "unknown"],
            "unreached": [(v.row.request.describe(), v.seen.detail)
                          for v in report.verdicts if v.agreement == "unreached"],
            "rules": sorted({f.rule for f in report.findings}),
            "crafted": [(crafted(v.row.request)[0], v.row.request.describe(), v.agreement, v.row.expect.answer,
                         v.row.expect.status, v.seen.answer, v.seen.detail)
                        for v in report.verdicts if crafted(v.row.request)],
            "resumed": [(v.row.request.describe(), v.agreement, v.row.expect.answer,
                         v.seen.answer, v.seen.detail) for v in report.verdicts
                        if v.row.request.resume_from is not None],
            "bypass": [(v.row.request.describe(), v.seen.detail)
                       for v in report.verdicts if v.bypass]}


def running_version(binary: str):
    """The nginx `binary` is, as --nginx-version takes it: Debian's package version for
    Debian's nginx (its backported fixes), the upstream version for a build."""
    import subprocess

    from nginx_harness import nginx_version
    from nginx_mtls_lint import versions

    if binary.startswith("/usr/sbin/") and shutil.which("dpkg-query"):
        package = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "nginx"],
                                 capture_output=True, text=True, timeout=10).stdout.strip()
        if package:
            return versions.parse_target(package, "dpkg")
    return versions.parse_target(nginx_version(binary), "nginx -v")


def probe_running(folder: Path, prefix: Path, pki: Path, binary: str, *, drift=None,
                  **kw) -> dict:
    """Start the case's nginx (its running copy changed by `drift`, a function of the
    configuration text), probe it from the file as given; the summary."""
    case = load_case(folder)
    nginx = prepare(case, prefix, pki, binary)
    if drift is not None:
        nginx.conf.write_text(drift(nginx.conf.read_text()))
    checked = nginx.check()
    if checked.returncode != 0:
        return {"error": "nginx -t: " + checked.stderr}
    apps = start_apps(case.upstreams)
    try:
        with nginx.start(case.loopback_ports):
            wait_for(ORIGIN, case.tls_ports + case.plain_ports)
            # the case as written (its own paths, lines and names), its certificates mapped
            report = probe_config([str(folder / "nginx.conf")], ORIGIN, None,
                                  options(pki, nginx=running_version(binary), **kw),
                                  certificates_mapped(pki))
            return summary(report)
    finally:
        for httpd in apps:
            httpd.shutdown()


def certificates_mapped(pki: Path) -> LoadOptions:
    return LoadOptions(path_map=[("/etc/nginx/certs", str(pki))])


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    return make_flow_pki(tmp_path_factory.mktemp("probe-pki"))


def cases_covering_every_rule() -> list[str]:
    """For each rule a flow case expects, the first case expecting it; and two held cases."""
    chosen: dict[str, str] = {}
    held = []
    for folder in sorted(p for p in FLOW.iterdir() if (p / "nginx.conf").is_file()):
        text = "\n".join(f.read_text() for f in folder.rglob("*") if f.is_file())
        for rule in re.findall(r"MTLS\d{3}", " ".join(re.findall(r"expect:[A-Z0-9, ]+", text))):
            chosen.setdefault(rule, folder.name)
        if "# label: held" in text and len(held) < 2:
            held.append(folder.name)
    return sorted(set(chosen.values()) | set(held))


SELECTION = cases_covering_every_rule()
VERIFY_ON = "error_page_400_static_error_file"  # held: one TLS socket, verify on


def run_in_namespace(work) -> dict:
    namespace_available()
    result = in_private_network(work)
    assert "error" not in result, result.get("error")
    return result


@pytest.mark.nginx
@pytest.mark.slow
# upstream builds as the flow labels' test takes them (NGINX_MTLS_LINT_FLOW_VERSIONS)
@pytest.mark.parametrize("version", ["debian", *FLOW_VERSIONS])
@pytest.mark.parametrize("case", SELECTION)
def test_MTLS110_no_disagreement_for_the_configuration_nginx_runs(case, version, pki,
                                                                  tmp_path):
    binary = nginx_binary() if version == "debian" else built_binary(version)
    result = run_in_namespace(lambda: probe_running(FLOW / case, tmp_path / "nginx", pki,
                                                    binary))
    assert result["reached"] and not result["unreached"], result["unreached"]
    assert result["disagree"] == [], json.dumps(result["disagree"], indent=1)
    assert result["agree"] >= 1  # some prediction was put to the test
    if "# label: held" in (FLOW / case / "nginx.conf").read_text():
        assert result["exit"] == 0 and not result["bypass"], result["bypass"]


@pytest.mark.nginx
@pytest.mark.slow
def test_MTLS110_a_running_copy_without_verification_disagrees(pki, tmp_path):
    """The file says `ssl_verify_client on`; the running nginx has `off`: content where the
    analysis predicts 400, an error at the ssl_verify_client line."""
    result = run_in_namespace(lambda: probe_running(
        FLOW / VERIFY_ON, tmp_path / "nginx", pki, nginx_binary(),
        drift=lambda text: text.replace("ssl_verify_client on;", "ssl_verify_client off;")))
    assert result["exit"] == 1 and result["rules"] == ["MTLS110"]
    errors = [d for d in result["disagree"] if d[6] == "error"]
    assert errors and all(d[4] == "content" and d[1] == "refused" for d in errors), errors
    given = FLOW / VERIFY_ON / "nginx.conf"
    line = next(i for i, text in enumerate(given.read_text().splitlines(), 1)
                if "ssl_verify_client on;" in text)
    assert {(os.path.realpath(d[7]), d[8]) for d in errors} == {(str(given), line)}, errors


UPSTREAM = ["1.26.2", "1.28.0", "1.30.4"]  # the behaviour of resumption changes at each
RESUMPTION_CASES = ["sni_guard_session_resumed_without_sni", "default_server_on_other_ca"]


@pytest.mark.nginx
@pytest.mark.slow
@pytest.mark.parametrize("version", ["debian", *UPSTREAM])
@pytest.mark.parametrize("case", RESUMPTION_CASES)
def test_MTLS110_resumed_sessions_are_predicted_and_agree(case, version, pki, tmp_path):
    """A session made without SNI and one made for the default server's name, resumed for
    the protected name (facts §6): predicted from the nginx version (--nginx-version) and
    the socket's protocols and session settings; every one agrees with what nginx does."""
    binary = nginx_binary() if version == "debian" else built_binary(version)
    result = run_in_namespace(lambda: probe_running(FLOW / case, tmp_path / "nginx", pki,
                                                    binary))
    assert result["disagree"] == [], json.dumps(result["disagree"], indent=1)
    assert len(result["resumed"]) >= 2, result["resumed"]
    assert all(agreement == "agree" for _, agreement, *_ in result["resumed"]), \
        json.dumps(result["resumed"], indent=1)


@pytest.mark.nginx
@pytest.mark.slow
@pytest.mark.parametrize("version", ["debian", "1.26.2"])
def test_MTLS110_a_running_copy_without_session_tickets_disagrees(version, pki, tmp_path):
    """The file resumes sessions (tickets on by default); the running copy has
    `ssl_session_tickets off`: the session made without SNI is not resumed, the refusal
    (a full handshake) disagrees with the predicted crossing."""
    binary = nginx_binary() if version == "debian" else built_binary(version)
    case = "sni_guard_session_resumed_without_sni"
    result = run_in_namespace(lambda: probe_running(
        FLOW / case, tmp_path / "nginx", pki, binary,
        drift=lambda text: text.replace("http {", "http {\n    ssl_session_tickets off;", 1)))
    resumed = [d for d in result["disagree"] if "resuming a session made without SNI" in d[0]]
    assert resumed and all(d[1] == "content" and d[6] == "warning" for d in resumed), \
        json.dumps(result["disagree"], indent=1)
    assert result["rules"] == ["MTLS110"]


# crafted rows: (case, what the row crafts, the running copy's change that must disagree)
CRAFTED_CASES = {
    "malformed": ("error_page_400_to_index", "error_page_400_static_error_file",
                  ("error_page 400 /errors/400.html;", "error_page 400 = /index.html;")),
    "forged": ("realip_from_everywhere_allow_list", "realip_from_everywhere_allow_list",
               ("set_real_ip_from 0.0.0.0/0;", "set_real_ip_from 10.255.255.0/24;")),
    "cloudflare": ("allow_cloudflare_ranges_without_certificate",
                   "allow_cloudflare_ranges_without_certificate",
                   ("allow 173.245.48.0/20;", "")),
    # the second server's (app's): the running copy no longer verifies its clients
    "absolute": ("default_server_on_other_ca", "default_server_on_other_ca",
                 ("ssl_verify_client on;", "ssl_verify_client off;")),
}


def last_replaced(text: str, old: str, new: str) -> str:
    before, found, after = text.rpartition(old)
    assert found, f"{old!r} is not in the running copy"
    return before + new + after


def crafted_rows(result: dict, kind: str) -> list:
    return [row for row in result["crafted"] if row[0] == kind]


@pytest.mark.nginx
@pytest.mark.slow
@pytest.mark.parametrize("version", ["debian", *UPSTREAM])
@pytest.mark.parametrize("kind", sorted(CRAFTED_CASES))
def test_MTLS110_crafted_requests_are_predicted_and_agree(kind, version, pki, tmp_path):
    """Malformed requests (400 and the error pages), forged address headers where realip
    trusts them, the protected name in an absolute URI under another Host (421), and a
    connection from a Cloudflare address: each predicted from the analysis and agreeing
    with what nginx does."""
    binary = nginx_binary() if version == "debian" else built_binary(version)
    case = CRAFTED_CASES[kind][0]
    result = run_in_namespace(lambda: probe_running(FLOW / case, tmp_path / "nginx", pki,
                                                    binary))
    assert result["disagree"] == [], json.dumps(result["disagree"], indent=1)
    rows = crafted_rows(result, kind)
    assert rows and all(row[2] == "agree" for row in rows), json.dumps(rows, indent=1)


@pytest.mark.nginx
@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(CRAFTED_CASES))
def test_MTLS110_a_running_copy_that_differs_disagrees_on_crafted_requests(kind, pki,
                                                                          tmp_path):
    case, (old, new) = CRAFTED_CASES[kind][1], CRAFTED_CASES[kind][2]
    assert old in (FLOW / case / "nginx.conf").read_text()
    result = run_in_namespace(lambda: probe_running(
        FLOW / case, tmp_path / "nginx", pki, nginx_binary(),
        drift=lambda text: last_replaced(text, old, new)))
    rows = crafted_rows(result, kind)
    assert any(row[2] == "disagree" for row in rows), json.dumps(rows, indent=1)
    assert result["rules"] == ["MTLS110"]


def probe_stream(tmp_path: Path, pki: Path, binary: str, mode: str, running: str) -> dict:
    """A stream {} TLS server verifying client-ca.pem with `mode` in the file given and
    `running` in the copy nginx runs, proxying to an http backend on loopback; the probe's
    summary (stream rows only)."""
    from nginx_harness import Nginx, free_ports

    port, backend = free_ports(2)
    stream = (f"server {{\n    listen 127.0.0.1:{port} ssl;\n"
              f"    ssl_certificate {pki}/server.pem;\n"
              f"    ssl_certificate_key {pki}/server.key;\n"
              f"    ssl_client_certificate {pki}/client-ca.pem;\n"
              f"    ssl_verify_client {running};\n    proxy_pass 127.0.0.1:{backend};\n}}\n")
    nginx = Nginx(tmp_path / "nginx", f"server {{\n    listen 127.0.0.1:{backend};\n"
                  f"    return 200 '{CONTENT}';\n}}\n", stream_body=stream, binary=binary)
    given = tmp_path / "given.conf"
    given.write_text(nginx.conf.read_text().replace(f"ssl_verify_client {running};",
                                                    f"ssl_verify_client {mode};"))
    with nginx.start([port, backend]):
        report = probe_config([str(given)], "127.0.0.1", None,
                              Options("127.0.0.1", timeout=3.0, deadline=60.0, budget=100,
                                      rate=100.0,
                                      valid=(str(pki / "client-valid.pem"),
                                             str(pki / "client-valid.key")),
                                      other=(str(pki / "client-other.pem"),
                                             str(pki / "client-other.key")),
                                      marker=CONTENT, nginx=running_version(binary)))
    rows = [v for v in report.verdicts if v.row.socket == f"127.0.0.1:{port}"]
    return {"rows": [(v.row.request.certificate, v.row.expect.answer, v.seen.answer,
                      v.agreement, v.severity) for v in rows],
            "rules": sorted({f.rule for f in report.findings})}


# certificate kind -> what a stream server with each mode does (facts §7: `on` closes a
# connection without a valid certificate, `optional` one with a certificate that fails)
STREAM = {"on": {"none": "closed", "self-signed": "closed", "valid": "content"},
          "optional": {"none": "content", "self-signed": "closed", "valid": "content"},
          "optional_no_ca": {"none": "content", "self-signed": "content", "valid": "content"},
          "off": {"none": "content", "self-signed": "content", "valid": "content"}}


@pytest.mark.nginx
@pytest.mark.slow
@pytest.mark.parametrize("version", ["debian", *UPSTREAM])
@pytest.mark.parametrize("mode", sorted(STREAM))
def test_MTLS110_stream_servers_are_predicted_and_agree(mode, version, pki, tmp_path):
    """A handshake with each certificate kind, then an HTTP request through the stream
    server: closed or proxied, as the analysis of the stream server predicts."""
    binary = nginx_binary() if version == "debian" else built_binary(version)
    result = probe_stream(tmp_path, pki, binary, mode, mode)
    predicted = {kind: expect for kind, expect, *_ in result["rows"]}
    assert {k: predicted[k] for k in STREAM[mode]} == STREAM[mode], result["rows"]
    assert all(agreement == "agree" for *_, agreement, _ in result["rows"]), result["rows"]


@pytest.mark.nginx
@pytest.mark.slow
def test_MTLS110_a_stream_server_running_optional_disagrees(pki, tmp_path):
    """The file says `on`; the running stream server has `optional`: the connection
    without a certificate is proxied where the file closes it, an error."""
    result = probe_stream(tmp_path, pki, nginx_binary(), "on", "optional")
    assert ("none", "closed", "content", "disagree", "error") in result["rows"], \
        result["rows"]
    assert result["rules"] == ["MTLS110"]


class Relay:
    """A TLS terminator in front of the origin (a Cloudflare-like edge): it asks no client
    certificate and forwards each request to the origin with the valid client's."""

    def __init__(self, pki: Path, listen: tuple[str, int], origin: tuple[str, int]):
        import socket
        import ssl

        self.server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.server_context.load_cert_chain(pki / "server.pem", pki / "server.key")
        self.client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.client_context.check_hostname = False
        self.client_context.verify_mode = ssl.CERT_NONE
        self.client_context.load_cert_chain(pki / "client-valid.pem", pki / "client-valid.key")
        self.origin = origin
        self.listener = socket.create_server(listen)
        self.listener.settimeout(0.2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            threading.Thread(target=self.relay, args=(conn,), daemon=True).start()

    def relay(self, conn) -> None:
        import socket

        from nginx_mtls_lint.probe.wire import _read

        try:
            conn.settimeout(5)
            with self.server_context.wrap_socket(conn, server_side=True) as tls:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = tls.recv(4096)
                    if not chunk:
                        return
                    data += chunk
                host = re.search(rb"\r\nHost: ([^\r\n]+)", data)
                sni = host.group(1).decode() if host else None
                with socket.create_connection(self.origin, timeout=5) as raw, \
                        self.client_context.wrap_socket(raw, server_hostname=sni) as up:
                    up.sendall(data)
                    tls.sendall(_read(up, time.monotonic() + 5))
        except OSError:
            pass

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.listener.close()


@pytest.mark.nginx
@pytest.mark.slow
def test_MTLS110_a_relay_in_front_changes_what_arrives(pki, tmp_path):
    """A TLS terminator on another port forwards every client with the valid certificate:
    `--target ORIGIN:4443` (a port overrides the configuration's for one socket) sees content
    where the configuration refuses it."""
    def work() -> dict:
        case = load_case(FLOW / VERIFY_ON)
        nginx = prepare(case, tmp_path / "nginx", pki, nginx_binary())
        apps = start_apps(case.upstreams)
        relay = Relay(pki, (ORIGIN, 4443), (ORIGIN, case.tls_ports[0]))
        try:
            with nginx.start(case.loopback_ports):
                wait_for(ORIGIN, case.tls_ports)
                report = probe_config([str(FLOW / VERIFY_ON / "nginx.conf")], ORIGIN, 4443,
                                      options(pki), certificates_mapped(pki))
                return summary(report)
        finally:
            relay.close()
            for httpd in apps:
                httpd.shutdown()

    result = run_in_namespace(work)
    assert result["exit"] == 1 and result["rules"] == ["MTLS110"]
    assert any(d[6] == "error" and d[4] == "content" for d in result["disagree"])


# --------------------------------------------------------------------------- no nginx needed

ONE_TLS_SERVER = """events {}
http {
    server {
        listen 443 ssl;
        server_name app.example.com;
        ssl_certificate     /etc/nginx/certs/server.pem;
        ssl_certificate_key /etc/nginx/certs/server.key;
        ssl_client_certificate /etc/nginx/certs/client-ca.pem;
        ssl_verify_client on;
        location / { proxy_pass http://127.0.0.1:3000; }
    }
}
"""


def plain_servers(count: int) -> str:
    servers = "".join(f"    server {{\n        listen 8080;\n        server_name s{i}.example.com;"
                      "\n        location / { return 200 'hello'; }\n    }\n"
                      for i in range(count))
    return f"events {{}}\nhttp {{\n{servers}}}\n"


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "nginx.conf"
    path.write_text(text)
    return path


@pytest.mark.parametrize("mode", ["closed", "blackhole"])
def test_a_closed_port_or_a_silent_server_is_exit_2_and_nothing_is_refused(mode, tmp_path):
    conf = config_file(tmp_path, ONE_TLS_SERVER)
    with Server("blackhole") as server:
        port = server.port
        if mode == "closed":
            server.__exit__()
        start = time.monotonic()
        result = run_cli("probe", "--from-config", str(conf), "--target", f"127.0.0.1:{port}",
                         "--timeout", "0.3", "--deadline", "3", "--format", "json", timeout=60)
        took = time.monotonic() - start
    assert result.returncode == 2, result.stderr
    document = json.loads(result.stdout)
    assert not document["reached"] and document["results"]
    assert {r["observed"]["answer"] for r in document["results"]} <= {"unreachable",
                                                                      "not-sent"}
    assert b"nothing reached" in result.stderr
    assert took < 15


def test_the_request_budget_and_rate_hold_on_the_server_side(tmp_path):
    conf = config_file(tmp_path, plain_servers(8))
    with Server("http") as server:
        report = probe_config([str(conf)], "127.0.0.1", server.port,
                              Options("127.0.0.1", timeout=2, deadline=30, budget=5, rate=10))
        times = [t for t, _ in server.requests]
    assert len(times) == 5
    assert times[-1] - times[0] >= 4 / 10 * 0.9  # five requests at 10 a second: 0.4 s
    assert sum(v.seen.answer == "not-sent" for v in report.verdicts) == len(report.verdicts) - 5
    assert all(line.split()[0] in (b"GET", b"HEAD", b"OPTIONS") for _, line in server.requests)


def test_cloudflare_source_rows_are_not_sendable_without_a_cloudflare_address(tmp_path):
    """Where the configuration decides by source address, the Cloudflare-source row needs a
    connection from a Cloudflare address: without one (outside a test network) it is
    reported not sendable, never agreed, and nothing is sent for it."""
    conf = config_file(tmp_path, plain_servers(1).replace(
        "location /", "allow 173.245.48.0/20;\n        deny all;\n        location /"))
    with Server("http") as server:
        report = probe_config([str(conf)], "127.0.0.1", server.port,
                              Options("127.0.0.1", timeout=2, deadline=30, budget=50,
                                      rate=50))
        received = len(server.requests)
    rows = [v for v in report.verdicts if v.row.request.source == "cloudflare"]
    assert rows and all(v.agreement == "unreached" and v.seen.detail.startswith(
        "not sendable") for v in rows), [(v.agreement, v.seen.detail) for v in rows]
    sent = [v for v in report.verdicts if v.seen.answer != "not-sent"]
    assert received == len(sent) and report.reached


def test_a_port_in_the_target_needs_a_single_socket(tmp_path):
    conf = config_file(tmp_path, ONE_TLS_SERVER.replace(
        "listen 443 ssl;", "listen 443 ssl;\n        listen 8443 ssl;"))
    result = run_cli("probe", "--from-config", str(conf), "--target", "127.0.0.1:9443",
                     timeout=60)
    assert result.returncode == 2 and b"give --target without a port" in result.stderr


@pytest.mark.parametrize("text,parsed", [("192.0.2.10", ("192.0.2.10", None)),
                                         ("192.0.2.10:8443", ("192.0.2.10", 8443)),
                                         ("[2001:db8::10]:443", ("2001:db8::10", 443)),
                                         ("2001:db8::10", ("2001:db8::10", None))])
def test_target_forms(text, parsed):
    assert parse_target(text) == parsed


def test_loopback_only_servers_are_probed_only_at_a_loopback_target(tmp_path):
    from nginx_mtls_lint.lint import LintOptions, analyse
    from nginx_mtls_lint.probe.plan import Certificates, Planner
    from nginx_mtls_lint.analysis import Analysis

    conf = config_file(tmp_path, plain_servers(1).replace("listen 8080;",
                                                          "listen 127.0.0.1:8080;"))
    _, model = analyse([str(conf)], LintOptions())
    config = model.configs[0]
    outside = Planner(config, Analysis(), Certificates(), "192.0.2.10")
    assert outside.sockets() == [] and "loopback only" in outside.notes[0]
    inside = Planner(config, Analysis(), Certificates(), "127.0.0.1")
    assert [(name, port) for name, _, port in inside.sockets()] == [("127.0.0.1:8080", 8080)]


def refusing_config(tmp_path: Path) -> Path:
    """One plain server that refuses everything: the counting server's 200 disagrees."""
    return config_file(tmp_path, "events {}\nhttp {\n    server {\n        listen 8080;\n"
                       "        server_name a.example.com;\n        location / { return 403; }"
                       "\n    }\n}\n")


def test_MTLS110_sarif_validates_against_the_schema_at_the_predicting_line(tmp_path):
    from conftest import sarif_errors

    conf = refusing_config(tmp_path)
    with Server("http") as server:
        result = run_cli("probe", "--from-config", str(conf), "--target",
                         f"127.0.0.1:{server.port}", "--format", "sarif", timeout=60)
    assert result.returncode == 1, result.stderr
    log = json.loads(result.stdout)
    assert sarif_errors(log) == []
    results = log["runs"][0]["results"]
    assert {f["ruleId"] for f in results} == {"MTLS110"}
    lines = {f["locations"][0]["physicalLocation"]["region"]["startLine"]: f for f in results}
    finding = lines[6]  # `location / { return 403; }`: the GET / row's prediction
    assert finding["level"] == "error"
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert rules[finding["ruleIndex"]]["id"] == "MTLS110"


def test_console_report_fits_an_80_column_terminal(tmp_path):
    import fcntl
    import pty
    import struct
    import subprocess
    import sys
    import termios

    conf = refusing_config(tmp_path)
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    with Server("http") as server:
        process = subprocess.run(
            [sys.executable, "-m", "nginx_mtls_lint", "probe", "--from-config", str(conf),
             "--target", f"127.0.0.1:{server.port}"], stdin=secondary, stdout=secondary,
            stderr=secondary, timeout=60, env={**os.environ, "TERM": "xterm", "COLUMNS": "80",
                                               "PYTHONPATH": str(Path(__file__).parent.parent)})
    os.close(secondary)
    output = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    os.close(primary)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", output.decode())
    assert process.returncode == 1
    assert "DISAGREE" in text and "MTLS110" in text
    assert max(len(line) for line in text.splitlines()) <= 80, text


def test_MTLS110_is_documented_like_every_rule():
    from nginx_mtls_lint.docs import expected_pages, find_rule
    from nginx_mtls_lint.probe.rule import LiveDisagreement

    assert find_rule("MTLS110") is LiveDisagreement
    assert find_rule("live-disagrees-with-config") is LiveDisagreement
    doc = LiveDisagreement.doc()
    for section in ("## Why", "## Example", "## Fix", "## Verified"):
        assert section in doc
    assert "pytest -m nginx -k MTLS110" in doc
    assert expected_pages()["MTLS110.md"] == (Path(__file__).parent.parent / "rules"
                                              / "MTLS110.md").read_text()
    # a live-only rule: the static lint of its example says nothing of it
    from conftest import lint_in_process

    example = doc.split("```nginx\n", 1)[1].split("```", 1)[0]
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"mtls110-example-{os.getpid()}.conf"
    path.write_text(example)
    try:
        assert "MTLS110" not in {f.rule for f in lint_in_process([path]).findings}
    finally:
        path.unlink()


# --------------------------------------------------------------------------- predictions

def shared_socket_plan(pki: Path, tmp_path: Path, default_extra: str = "",
                       nginx: str | None = None, http_extra: str = "") -> dict:
    """B6: a default server verifying other-ca.pem, the protected one client-ca.pem."""
    from nginx_mtls_lint.lint import LintOptions, analyse
    from nginx_mtls_lint.probe.plan import Certificates, Planner
    from nginx_mtls_lint.analysis import Analysis

    def server(name: str, ca: str, extra: str = "") -> str:
        return (f"    server {{\n        listen 443 ssl{extra and ' default_server'};\n"
                f"        server_name {name};\n        ssl_certificate {pki}/server.pem;\n"
                f"        ssl_certificate_key {pki}/server.key;\n"
                f"        ssl_client_certificate {pki}/{ca};\n        ssl_verify_client on;\n"
                f"{extra}        location / {{ proxy_pass http://127.0.0.1:3000; }}\n    }}\n")

    conf = config_file(tmp_path, "events {}\nhttp {\n" + http_extra
                       + server("partner.example.com", "other-ca.pem", default_extra or "\n")
                       + server("app.example.com", "client-ca.pem") + "}\n")
    _, model = analyse([str(conf)], LintOptions())
    read = lambda name: (pki / name).read_bytes()
    import ssl
    certificates = Certificates(ssl.PEM_cert_to_DER_cert(read("client-valid.pem").decode()),
                                ssl.PEM_cert_to_DER_cert(read("client-other.pem").decode()))
    from nginx_mtls_lint import versions
    target = versions.parse_target(nginx, "test") if nginx else versions.UNKNOWN
    planner = Planner(model.configs[0], Analysis(), certificates, "192.0.2.10", target=target)
    rows = planner.rows()
    return {crafted(r.request) or (r.request.sni, r.request.host_header, r.request.certificate,
                                   r.request.target, r.request.method, r.request.tls,
                                   r.request.resume_from):
            (r.expect.answer, r.expect.status) for r in rows}


def crafted(request) -> tuple | None:
    """The key of a crafted row (malformed, forged header, absolute URI, Cloudflare
    source): what it crafts and the names it goes to."""
    if request.malformed:
        return ("malformed", request.sni, request.tls)
    if request.headers:
        return ("forged", request.headers[0][1], request.sni, request.tls)
    if "://" in request.target:
        return ("absolute", request.target, request.host_header, request.tls)
    if request.source != "direct":
        return (request.source, request.sni, request.tls)
    return None


def test_predictions_follow_the_handshake_server_then_the_host(pki, tmp_path):
    plan = shared_socket_plan(pki, tmp_path)
    app = "app.example.com"
    at = lambda sni, cert, host=app: plan[(sni, host, cert, "/", "GET", True, None)]
    assert at(app, "none") == ("refused", 496)
    assert at(app, "other-ca") == ("refused", 495)  # app's CA did not issue it
    assert at(app, "valid") == ("content", 200)
    # no SNI: the default server asks for a certificate and verifies it against its CA
    assert at(None, "other-ca") == ("content", 200)  # B6
    assert at(None, "valid") == ("refused", 495)
    # another server's SNI with Host app: app verifies clients, so 421
    assert at("partner.example.com", "none") == ("refused", 421)
    # plain HTTP on the TLS port: 497
    assert plan[(None, app, "none", "/", "GET", False, None)] == ("refused", 497)
    # a malformed request: 400 before the certificate check, answered by app's error pages
    assert plan[("malformed", app, True)] == ("refused", 400)
    # app's name in an absolute URI under partner's Host and SNI: app verifies, 421
    assert plan[("absolute", f"https://{app}/", "partner.example.com", True)] == ("refused",
                                                                                  421)
    # resumption across servers depends on the nginx version: not predicted without it
    assert plan[(app, app, "other-ca", "/", "GET", True, "")] == ("unknown", None)


TLS13 = "    ssl_protocols TLSv1.2 TLSv1.3;\n"


@pytest.mark.parametrize("nginx,http_extra,without_sni,named", [
    # affected (CVE-2025-23419): both sessions carry partner's verification into app
    ("1.26.2", TLS13, ("content", 200), ("content", 200)),
    # fixed up to 1.29.1: a session made for partner is refused for app; one without SNI
    # still crosses
    ("1.28.0", TLS13, ("content", 200), ("handshake-refused", None)),
    ("1.22.1-9+deb12u12", TLS13, ("content", 200), ("handshake-refused", None)),
    # 1.29.2+: the server is chosen first, a full handshake: app refuses the other CA (495)
    ("1.30.4", TLS13, ("refused", 495), ("refused", 495)),
    # Debian's 1.22.1 has no TLS 1.3 by default: no TLS 1.3 session to resume
    ("1.22.1-9+deb12u12", "", ("handshake-refused", None), ("handshake-refused", None)),
    # no tickets, no cache: nothing resumes, a full handshake
    ("1.26.2", TLS13 + "    ssl_session_tickets off;\n", ("refused", 495), ("refused", 495)),
])
def test_resumed_sessions_are_predicted_from_the_nginx_version(pki, tmp_path, nginx,
                                                               http_extra, without_sni, named):
    plan = shared_socket_plan(pki, tmp_path, nginx=nginx, http_extra=http_extra)
    app = "app.example.com"
    assert plan[(app, app, "other-ca", "/", "GET", True, "")] == without_sni
    assert plan[(app, app, "other-ca", "/", "GET", True, "partner.example.com")] == named


def test_a_default_server_rejecting_handshakes_is_predicted_refused(pki, tmp_path):
    plan = shared_socket_plan(pki, tmp_path, "        ssl_reject_handshake on;\n")
    app = "app.example.com"
    assert plan[(None, app, "other-ca", "/", "GET", True, None)] == ("handshake-refused", None)
    assert plan[(app, app, "none", "/", "GET", True, None)] == ("refused", 496)
