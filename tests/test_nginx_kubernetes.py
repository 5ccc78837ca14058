"""What the Kubernetes renderers write is accepted by a real nginx (`nginx -t`), with the
renderers' own files and ports. What each rendering does with each client is proven in the
network-namespace harness (tests/test_nginx_kubernetes_labels.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import FIXTURES
from nginx_harness import Nginx, http_defaults
from nginx_mtls_lint.kubernetes import Inputs, Rendering

pytestmark = pytest.mark.nginx
CASES = sorted((FIXTURES / "kubernetes").rglob("*.yaml")) + sorted(
    (FIXTURES / "rules").glob("*/*.yaml"))


def rendering_of(case: Path) -> Rendering:
    inputs = Inputs()
    inputs.add(str(case), str(case), True)
    (rendering,) = inputs.render()  # one controller per fixture
    return rendering


def runnable(rendering: Rendering, prefix: Path, server_pem: Path) -> str:
    """The rendering with its files where this test keeps them: the Secrets' CA files, the
    fake certificate, logs and temporary files inside `prefix`."""
    text = rendering.text
    for path, local in rendering.store.files.items():
        text = text.replace(path, local)
    text = re.sub(r"(ssl_certificate(?:_key)?) \S+;", rf"\1 {server_pem};", text)
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
