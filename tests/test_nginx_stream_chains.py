"""MTLS008 on stream {} servers against a real nginx: the same OpenSSL store verifies the
client chain as in http {}, and where http answers 400 a stream server closes the
connection. The default depth refuses the client of a second intermediate until the
linter's structured fix (applied as edits) raises it; an intermediate without its issuer in
the CA file refuses its clients even when they send the issuer; ssl_crl without the CRL of an
intermediate refuses the clients under it.

Reuses the chain PKI of test_nginx_chains.py and the stream client of test_nginx_stream.py.
Run: `pytest -m nginx -k "MTLS008 and stream"`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nginx_harness import CONTENT, built_binary, free_ports
from test_nginx import Pki, fixed_by
from test_nginx_chains import chain  # noqa: F401  (the chain PKI fixture)
from test_nginx_stream import fetch, run_stream, stream_server

pytestmark = pytest.mark.nginx


def verifying(port: int, backend: int, pki: Pki, ca: str, *extra: str) -> str:
    """A stream server on `port` proxying to `backend` that verifies clients against `ca`."""
    body = "\n".join(f"    {line}" for line in (f"ssl_client_certificate {ca};",
                                                 "ssl_verify_client on;", *extra))
    return stream_server(port, pki, body, f"127.0.0.1:{backend}")


def gets_through(port: int, pki: Pki, client: str) -> bool:
    """Whether the client issued by `client` (root, int1, int2), sending its certificate and
    the intermediates above it, reaches the backend."""
    return CONTENT in fetch(port, getattr(pki, f"client_{client}_chain"),
                            getattr(pki, f"client_{client}_key"))


def verify_error(nginx, error: str) -> bool:
    """Whether nginx logged the refusal (at level info, during the handshake: stream has no
    request to answer)."""
    return f"client SSL certificate verify error: {error} while SSL handshaking" in (
        nginx.prefix / "logs" / "error.log").read_text()


def depth_default_then_fixed(tmp_path: Path, chain: Pki, binary: str | None = None) -> None:
    port, backend = free_ports(2)
    bad = verifying(port, backend, chain, chain.chain_full)
    rules, nginx = run_stream(tmp_path, "default-depth", bad, backend, binary)
    assert ("MTLS008", "error") in rules
    with nginx.start([port, backend]):
        assert gets_through(port, chain, "int1")
        refused = fetch(port, chain.client_int2_chain, chain.client_int2_key)
    assert refused.startswith("closed") and CONTENT not in refused  # closed, no 400 page
    assert verify_error(nginx, "(2:unable to get issuer certificate)")
    fixed = fixed_by("MTLS008", bad, tmp_path, stream=True)
    assert "ssl_verify_depth 2;" in fixed
    rules, nginx = run_stream(tmp_path, "fixed-depth", fixed, backend, binary)
    assert not {r for r, _ in rules} & {"MTLS003", "MTLS008"}
    with nginx.start([port, backend]):
        assert all(gets_through(port, chain, c) for c in ("root", "int1", "int2"))


def test_MTLS008_stream_default_depth_closes_the_second_intermediate_until_the_fix(
        tmp_path, chain):
    depth_default_then_fixed(tmp_path, chain)


@pytest.mark.slow
def test_MTLS008_stream_default_depth_on_upstream_nginx(tmp_path, chain):
    depth_default_then_fixed(tmp_path, chain, built_binary("1.28.0"))


def test_MTLS008_stream_missing_issuer_refuses_even_a_client_that_sends_it(tmp_path, chain):
    port, backend = free_ports(2)
    bad = verifying(port, backend, chain, chain.chain_root_int2, "ssl_verify_depth 3;")
    rules, nginx = run_stream(tmp_path, "missing-issuer", bad, backend)
    assert ("MTLS008", "error") in rules
    with nginx.start([port, backend]):
        assert gets_through(port, chain, "root")
        assert not gets_through(port, chain, "int2")  # it sends Intermediate 1 itself
    assert verify_error(nginx, "(2:unable to get issuer certificate)")
    # the fix the finding names: Intermediate 1 in the file (chain-full)
    good = verifying(port, backend, chain, chain.chain_full, "ssl_verify_depth 3;")
    rules, nginx = run_stream(tmp_path, "with-issuer", good, backend)
    assert not {r for r, _ in rules} & {"MTLS003", "MTLS008"}
    with nginx.start([port, backend]):
        assert gets_through(port, chain, "int2")


def test_MTLS008_stream_crl_missing_for_an_intermediate_refuses_its_clients(tmp_path, chain):
    port, backend = free_ports(2)
    bad = verifying(port, backend, chain, chain.chain_root_int1, f"ssl_crl {chain.crl_root};")
    rules, nginx = run_stream(tmp_path, "crl-root", bad, backend)
    assert ("MTLS008", "error") in rules
    with nginx.start([port, backend]):
        assert gets_through(port, chain, "root") and not gets_through(port, chain, "int1")
    assert verify_error(nginx, "(3:unable to get certificate CRL)")
    good = verifying(port, backend, chain, chain.chain_root_int1,
                     f"ssl_crl {chain.crl_root_int1};")
    rules, nginx = run_stream(tmp_path, "crl-both", good, backend)
    assert not {r for r, _ in rules} & {"MTLS003", "MTLS004", "MTLS008"}
    with nginx.start([port, backend]):
        assert gets_through(port, chain, "int1")
