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
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import FIXTURES, run_cli, skip_or_fail
from nginx_harness import CONTENT, built_binary, nginx_binary
from nginx_mtls_lint.loader import LoadOptions
from nginx_mtls_lint.probe.from_config import parse_target, probe_config
from nginx_mtls_lint.probe.live import Options
from probe_servers import Server
from test_flow_labels import (DIRECT, FASTCGI_PORTS, ORIGIN, App, FastCgiApp, in_private_network,
                              load_case, make_flow_pki, prepare, wait_for)

FLOW = FIXTURES / "flow"


def namespace_available() -> None:
    if os.geteuid() != 0 or not shutil.which("ip"):
        skip_or_fail("probe --from-config runs nginx in a private network namespace: root "
                     "and iproute2 needed")


def options(pki: Path, **kw) -> Options:
    values = dict(timeout=3.0, deadline=120.0, budget=400, rate=200.0,
                  valid=(str(pki / "client-valid.pem"), str(pki / "client-valid.key")),
                  other=(str(pki / "client-other.pem"), str(pki / "client-other.key")),
                  marker=CONTENT, source=DIRECT)
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
            "rules": sorted({f.rule for f in report.findings})}


def probe_running(folder: Path, prefix: Path, pki: Path, binary: str, *, drift=None,
                  **kw) -> dict:
    """Start the case's nginx (its running copy changed by `drift`, a function of the
    configuration text), probe it from the file as given; the summary."""
    case = load_case(folder)
    nginx = prepare(case, prefix, pki, binary)
    given = prefix / "given.conf"
    given.write_text(nginx.conf.read_text())
    if drift is not None:
        nginx.conf.write_text(drift(nginx.conf.read_text()))
    checked = nginx.check()
    if checked.returncode != 0:
        return {"error": "nginx -t: " + checked.stderr}
    apps = []
    for port in case.upstreams:
        httpd = ThreadingHTTPServer(("127.0.0.1", port),
                                    FastCgiApp if port in FASTCGI_PORTS else App)
        threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True).start()
        apps.append(httpd)
    try:
        with nginx.start(case.loopback_ports):
            wait_for(ORIGIN, case.tls_ports + case.plain_ports)
            report = probe_config([str(given)], ORIGIN, None, options(pki, **kw),
                                  LoadOptions(prefix=str(prefix)))
            return summary(report)
    finally:
        for httpd in apps:
            httpd.shutdown()


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
@pytest.mark.parametrize("version", ["debian", "1.30.4"])
@pytest.mark.parametrize("case", SELECTION)
def test_MTLS110_no_disagreement_for_the_configuration_nginx_runs(case, version, pki,
                                                                  tmp_path):
    binary = nginx_binary() if version == "debian" else built_binary(version)
    result = run_in_namespace(lambda: probe_running(FLOW / case, tmp_path / "nginx", pki,
                                                    binary))
    assert result["reached"] and not result["unreached"], result["unreached"]
    assert result["disagree"] == [], json.dumps(result["disagree"], indent=1)
    assert result["agree"] >= 1  # some prediction was put to the test
    bypass = "# label: bypass" in (FLOW / case / "nginx.conf").read_text()
    assert result["exit"] == (1 if bypass else 0) or bypass, result


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
    given = tmp_path / "nginx" / "given.conf"
    line = next(i for i, text in enumerate(given.read_text().splitlines(), 1)
                if "ssl_verify_client on;" in text)
    assert {(d[7], d[8]) for d in errors} == {(str(given), line)}, errors


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
        apps = [ThreadingHTTPServer(("127.0.0.1", port), App) for port in case.upstreams]
        for httpd in apps:
            threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True).start()
        relay = Relay(pki, (ORIGIN, 4443), (ORIGIN, case.tls_ports[0]))
        try:
            with nginx.start(case.loopback_ports):
                wait_for(ORIGIN, case.tls_ports)
                report = probe_config([str(nginx.conf)], ORIGIN, 4443, options(pki),
                                      LoadOptions(prefix=str(tmp_path / "nginx")))
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
                         "--timeout", "0.3", "--deadline", "8", "--format", "json", timeout=60)
        took = time.monotonic() - start
    assert result.returncode == 2, result.stderr
    document = json.loads(result.stdout)
    assert not document["reached"] and document["results"]
    assert {r["observed"]["answer"] for r in document["results"]} <= {"unreachable",
                                                                      "not-sent"}
    assert b"nothing reached" in result.stderr
    assert took < 20


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
    from nginx_mtls_lint.rules import RuleContext

    conf = config_file(tmp_path, plain_servers(1).replace("listen 8080;",
                                                          "listen 127.0.0.1:8080;"))
    _, model = analyse([str(conf)], LintOptions())
    config = model.configs[0]
    outside = Planner(config, RuleContext(), Certificates(), "192.0.2.10")
    assert outside.sockets() == [] and "loopback only" in outside.notes[0]
    inside = Planner(config, RuleContext(), Certificates(), "127.0.0.1")
    assert [(name, port) for name, _, port in inside.sockets()] == [("127.0.0.1:8080", 8080)]
