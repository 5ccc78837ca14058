"""What the Kubernetes renderers write is accepted by a real nginx (`nginx -t`), and the
host-wide scope of ingress-nginx's client verification is shown live (MTLS109)."""

from __future__ import annotations

import re
import socket
import ssl
from pathlib import Path

import pytest

from conftest import FIXTURES
from nginx_harness import Nginx, free_ports, http_defaults
from nginx_mtls_lint.kubernetes import Inputs, Rendering

pytestmark = pytest.mark.nginx
CASES = sorted((FIXTURES / "kubernetes").rglob("*.yaml")) + sorted(
    (FIXTURES / "rules" / "MTLS109").glob("*.yaml"))


def rendering_of(case: Path) -> Rendering:
    inputs = Inputs()
    inputs.add(str(case), str(case), True)
    (rendering,) = inputs.render()  # one controller per fixture
    return rendering


def runnable(rendering: Rendering, prefix: Path, server_pem: Path,
             ports: dict[str, str] | None = None) -> str:
    """The rendering with its files where this test keeps them: the Secrets' CA files, the
    fake certificate, logs and temporary files inside `prefix`; ports renamed when given."""
    text = rendering.text
    for path, local in rendering.store.files.items():
        text = text.replace(path, local)
    text = re.sub(r"(ssl_certificate(?:_key)?) \S+;", rf"\1 {server_pem};", text)
    for old, new in (ports or {}).items():
        text = text.replace(old, new)
    return text.replace("http {\n", "http {\n" + http_defaults(prefix), 1)


@pytest.fixture(scope="module")
def server_pem(tmp_path_factory) -> Path:
    import subprocess
    folder = tmp_path_factory.mktemp("k8s-pki")
    pem = folder / "server.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(pem), "-out",
                    str(folder / "cert.pem"), "-days", "2", "-subj", "/CN=shop.example.com"],
                   check=True, capture_output=True, timeout=30)
    pem.write_text(pem.read_text() + (folder / "cert.pem").read_text())
    return pem


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_rendering_is_accepted_by_nginx(case: Path, tmp_path: Path, server_pem: Path):
    nginx = Nginx(tmp_path, conf_text=runnable(rendering_of(case), tmp_path, server_pem))
    result = nginx.check()
    assert result.returncode == 0, result.stderr


def test_MTLS109_weakest_order_serves_the_strict_ingress_without_certificate(
        tmp_path: Path, server_pem: Path):
    """shop-api asks `on` for /api; shop-legacy (optional_no_ca) may be the oldest Ingress of
    the host: then nginx serves /api to a client without any certificate."""
    rendering = rendering_of(FIXTURES / "rules" / "MTLS109" / "several_ingresses_one_host.yaml")
    https, plain, app = free_ports(3)
    text = runnable(rendering, tmp_path, server_pem, {
        "listen 443 ": f"listen 127.0.0.1:{https} ", "listen 80": f"listen 127.0.0.1:{plain}",
        "server 127.0.0.1:8181;": f"server 127.0.0.1:{app};"})
    text = text.replace("http {\n", "http {\n    server { listen 127.0.0.1:%d; "
                        "return 200 \"PROTECTED-CONTENT\\n\"; }\n" % app, 1)
    with Nginx(tmp_path, conf_text=text).start([https, plain, app]):
        answer = live(https, "shop.example.com", "/api/orders", "none", {})
    assert answer.startswith(b"HTTP/1.1 200") and b"PROTECTED-CONTENT" in answer, answer


# --------------------------------------------------------------------------- labels, live

def make_pki(folder: Path) -> dict[str, Path]:
    """A client CA, a client certificate it signed, a self-signed one, a server certificate."""
    import subprocess

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run("req", "-x509", *ec, "-keyout", str(folder / "ca.key"), "-out", str(folder / "ca.pem"),
        "-days", "2", "-subj", "/CN=test-client-ca", "-addext",
        "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    run("req", *ec, "-keyout", str(folder / "valid.key"), "-out", str(folder / "valid.csr"),
        "-subj", "/CN=origin-pull.cloudflare.net")
    run("x509", "-req", "-in", str(folder / "valid.csr"), "-CA", str(folder / "ca.pem"),
        "-CAkey", str(folder / "ca.key"), "-CAcreateserial", "-days", "2", "-out",
        str(folder / "valid.pem"))
    run("req", "-x509", *ec, "-keyout", str(folder / "failed.key"), "-out",
        str(folder / "failed.pem"), "-days", "2", "-subj", "/CN=origin-pull.cloudflare.net")
    return {"ca": folder / "ca.pem", "valid": folder / "valid.pem",
            "failed": folder / "failed.pem"}


def live(port: int, host: str, uri: str, kind: str, pki: dict[str, Path],
         headers: str = "") -> bytes:
    """What nginx answers one client kind: none, failed (self-signed), valid, plain."""
    request = f"GET {uri} HTTP/1.1\r\nHost: {host}\r\n{headers}Connection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        if kind == "plain":
            raw.sendall(request.encode())
            return _read(raw)
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        if kind in ("valid", "failed"):
            pem = pki[kind]
            context.load_cert_chain(str(pem), str(pem.with_suffix(".key")))
        try:
            with context.wrap_socket(raw, server_hostname=host) as tls:
                tls.sendall(request.encode())
                return _read(tls)
        except (ssl.SSLError, ConnectionError):
            return b""


def _read(conn) -> bytes:
    data = b""
    try:
        while len(data) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
    except (ssl.SSLError, ConnectionError):
        pass
    return data


LIVE_CASES = [c for c in CASES if "nginx_ingress" in str(c) or "gateway_api" in str(c)
              or "ingress_nginx" in str(c)]


@pytest.mark.parametrize("case", LIVE_CASES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_rendering_gives_the_linters_label_live(case: Path, tmp_path: Path, server_pem: Path):
    """Every (host, port, path, client) cell the linter decides for the rendering is what
    nginx does with it: content where the linter says open, none where it says refused."""
    from nginx_mtls_lint import compare
    from conftest import lint_in_process

    pki = make_pki(tmp_path)
    model = lint_in_process([case]).model
    rendering = rendering_of(case)
    https, plain, app = free_ports(3)
    ports = {"listen 443": f"listen 127.0.0.1:{https}", "listen 80": f"listen 127.0.0.1:{plain}",
             "server 127.0.0.1:8181;": f"server 127.0.0.1:{app};"}
    text = runnable(rendering, tmp_path, server_pem, ports)
    for path in rendering.store.files.values():
        text = text.replace(path, str(pki["ca"]))
    text = text.replace("http {\n", "http {\n    server { listen 127.0.0.1:%d; "
                        "return 200 \"PROTECTED-CONTENT\\n\"; }\n" % app, 1)
    cells = [c for c in compare.cells_of(model) if c.client in ("none", "failed", "valid",
                                                                 "plain")]
    assert cells
    checked = 0
    listening = [https, app] + ([plain] if f"127.0.0.1:{plain}" in text else [])
    with Nginx(tmp_path, conf_text=text).start(listening):
        for cell in cells:
            verdict = compare.answer(model, cell, {}).verdict
            if verdict == "cannot prove" or cell.host.startswith("~"):
                continue
            port = plain if cell.port == "80" else https
            # the flow lets a client send any header: one a rendering reads is tried too
            got = any(b"PROTECTED-CONTENT" in live(port, cell.host, cell.uri, cell.client, pki,
                                                   headers)
                      for headers in ("", "X-Forwarded-Proto: https\r\n"))
            assert got == (verdict == "open"), (cell, verdict)
            checked += 1
    assert checked
