"""Client chains against a real nginx: verify depth, missing issuers, CRLs and file forms.

Each test lints a configuration, then shows with nginx that the valid client is refused or
admitted exactly as the finding says (and with the error-log line the rule page quotes), then
applies the printed fix and shows the client admitted.
Run: `pytest -m nginx -k depth`, `pytest -m nginx -k crl`, `pytest -m nginx -k MTLS008`.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from conftest import key_pem, lint_in_process, make_cert, pem, write_chain_pki, write_refusal_pki
from nginx_harness import CONTENT, Nginx, free_ports
from nginx_mtls_lint import probe
from test_nginx import NAME, Pki, aop_ca, server

pytestmark = pytest.mark.nginx


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> Pki:
    folder = tmp_path_factory.mktemp("chain-pki")
    write_chain_pki(folder)
    write_refusal_pki(folder)
    cert, key = make_cert(NAME, ca=False)
    (folder / "server.pem").write_bytes(pem(cert))
    (folder / "server-key.pem").write_bytes(key_pem(key))
    return Pki(folder)


class Run:
    """One configuration: its findings, and nginx serving it on loopback."""

    def __init__(self, tmp_path: Path, label: str, body: str, pki: Pki):
        self.port, = free_ports(1)
        self.prefix = tmp_path / label
        self.nginx = Nginx(self.prefix, server(self.port, pki, body).replace(
            "__ROOT__", str(self.prefix / "www")).replace(
            f"listen {self.port}", f"listen 127.0.0.1:{self.port}"))
        self.findings = lint_in_process([self.nginx.conf]).findings
        self.pki = pki

    def rule(self, rule: str, severity: str | None = None) -> list:
        return [f for f in self.findings if f.rule == rule
                and (severity is None or f.severity == severity)]

    def admits(self, client: str) -> bool:
        """Whether nginx serves the content to the client issued by `client` (root, int1,
        int2), which sends its certificate and the intermediates above it."""
        target = probe.Target(
            "127.0.0.1", self.port, NAME, content_marker=CONTENT, timeout=5,
            client_cert=str(self.pki.folder / f"client-{client}-chain.pem"),
            client_key=str(self.pki.folder / f"client-{client}-key.pem"),
            cases=[probe.Case("SNI, given certificate", NAME, certificate="given")])
        with self.nginx.start([self.port]):
            outcome, = probe.probe(target)
        return outcome.verdict == "CONTENT SERVED"

    def logged(self) -> str:
        return (self.prefix / "logs" / "error.log").read_text()


def body(ca: str, *extra: str) -> str:
    return "".join(f"    {line}\n" for line in (f"ssl_client_certificate {ca};",
                                                "ssl_verify_client on;", *extra))


def verify_error(line: str) -> str:
    return f"client SSL certificate verify error: {line} while reading client request headers"


def test_MTLS008_depth_default_refuses_the_second_intermediate_and_the_printed_depth_admits(
        tmp_path, chain):
    bad = Run(tmp_path, "bad", body(chain.chain_full), chain)
    finding, = bad.rule("MTLS008")
    # reported at the server block: the depth is the default
    assert finding.line == bad.nginx.conf.read_text().splitlines().index("server {") + 1
    assert finding.fix == "ssl_verify_depth 2;"
    assert bad.admits("int1") and not bad.admits("int2")
    assert verify_error("(2:unable to get issuer certificate)") in bad.logged()
    fixed = Run(tmp_path, "fixed", body(chain.chain_full, finding.fix), chain)
    assert not fixed.rule("MTLS008")
    assert fixed.admits("int2") and fixed.admits("int1") and fixed.admits("root")


def test_MTLS008_depth_zero_admits_only_clients_of_the_root(tmp_path, chain):
    bad = Run(tmp_path, "bad", body(chain.chain_root_int1, "ssl_verify_depth 0;"), chain)
    finding, = bad.rule("MTLS008")
    assert "ssl_verify_depth 0" in finding.message and finding.fix == "ssl_verify_depth 1;"
    assert bad.admits("root") and not bad.admits("int1")
    fixed = Run(tmp_path, "fixed", body(chain.chain_root_int1, finding.fix), chain)
    assert not fixed.rule("MTLS008") and fixed.admits("int1")


def test_MTLS008_depth_unknown_when_clients_send_their_intermediates(tmp_path, chain):
    """Only the root in the file: the linter cannot know the depth and says nothing; nginx
    then decides by what the client sends (int2 needs depth 2, "unable to get local issuer
    certificate" at depth 1)."""
    run = Run(tmp_path, "root-only", body(chain.chain_root), chain)
    assert not run.rule("MTLS008")
    assert run.admits("int1") and not run.admits("int2")
    assert verify_error("(20:unable to get local issuer certificate)") in run.logged()


def test_MTLS008_chain_missing_issuer_refuses_even_a_client_that_sends_it(tmp_path, chain):
    bad = Run(tmp_path, "bad", body(chain.chain_root_int2, "ssl_verify_depth 3;"), chain)
    finding, = bad.rule("MTLS008")
    assert "CN=Chain Intermediate 1" in finding.message and "sends the missing" in finding.message
    assert not bad.admits("int2")  # it sends Intermediate 1 itself
    assert verify_error("(2:unable to get issuer certificate)") in bad.logged()
    # the printed fix: add Intermediate 1 (chain-full = root + intermediate 1 + 2)
    assert "CN=Chain Intermediate 1" in finding.fix
    fixed = Run(tmp_path, "fixed", body(chain.chain_full, "ssl_verify_depth 3;"), chain)
    assert not fixed.rule("MTLS008") and fixed.admits("int2")


def test_MTLS008_chain_lone_intermediate_refuses_every_client(tmp_path, chain):
    bad = Run(tmp_path, "bad", body(chain.chain_int1_only), chain)
    finding, = bad.rule("MTLS008")
    assert "every client" in finding.message and "CN=Chain Root CA" in finding.fix
    assert not bad.admits("int1")
    assert verify_error("(2:unable to get issuer certificate)") in bad.logged()
    fixed = Run(tmp_path, "fixed", body(chain.chain_root_int1), chain)
    assert not fixed.rule("MTLS008") and fixed.admits("int1")


# (CA file, bad ssl_crl, rule, what the message says, the client refused, a client still
# admitted, the error-log line, the ssl_crl that fixes it)
CRL_CASES = {
    "MTLS008-missing-for-intermediate": (
        "chain_root_int1", "crl_root", "no CRL from CN=Chain Intermediate 1", "int1", "root",
        "(3:unable to get certificate CRL)", "crl_root_int1"),
    "MTLS008-another-issuer-only": (
        "chain_root", "crl_other", "no CRL from CN=Chain Root CA", "root", None,
        "(3:unable to get certificate CRL)", "crl_root"),
    "MTLS008-revoked-intermediate": (
        "chain_root_int1", "crl_revokes_int1", "revokes CN=Chain Intermediate 1", "int1", "root",
        "(23:certificate revoked)", "crl_root_int1"),
    "MTLS004-expired": (
        "chain_root", "crl_root_expired", "CRL has expired", "root", None,
        "(12:CRL has expired)", "crl_root"),
}


@pytest.mark.parametrize("case", CRL_CASES)
def test_crl_refuses_the_valid_client_until_the_printed_fix(tmp_path, chain, case):
    ca, crl, says, refused, admitted, log, good = CRL_CASES[case]
    ca = getattr(chain, ca)
    bad = Run(tmp_path, "bad", body(ca, f"ssl_crl {getattr(chain, crl)};"), chain)
    finding, = bad.findings
    assert finding.rule == case.split("-")[0] and finding.severity == "error"
    assert says in finding.message
    assert not bad.admits(refused) and (admitted is None or bad.admits(admitted))
    assert verify_error(log) in bad.logged()
    fixed = Run(tmp_path, "fixed", body(ca, f"ssl_crl {getattr(chain, good)};"), chain)
    assert not fixed.findings and fixed.admits(refused)


def test_MTLS008_crl_every_issuer_covered_with_depth_two_admits_all(tmp_path, chain):
    run = Run(tmp_path, "all", body(chain.chain_full, "ssl_verify_depth 2;",
                                    f"ssl_crl {chain.crl_all};"), chain)
    assert not run.findings
    assert run.admits("root") and run.admits("int1") and run.admits("int2")


def test_MTLS004_crl_expiring_soon_warns_and_still_admits(tmp_path, chain):
    run = Run(tmp_path, "soon", body(chain.chain_root, f"ssl_crl {chain.crl_root_expiring};"),
              chain)
    assert [f.severity for f in run.findings] == ["warning"]
    assert run.admits("root")


def test_MTLS004_crl_stale_for_another_issuer_is_harmless(tmp_path, chain):
    run = Run(tmp_path, "other", body(chain.chain_root, f"ssl_crl {chain.crl_root_other};"),
              chain)
    assert not run.findings
    assert run.admits("root")


def test_MTLS004_chain_expired_ocsp_intermediate_off_the_client_chain_is_only_a_note(tmp_path, chain):
    run = Run(tmp_path, "ocsp", body(
        chain.chain_root, f"ssl_trusted_certificate {chain.chain_other_expired_int};"), chain)
    assert [f.severity for f in run.rule("MTLS004")] == ["note"]
    assert not run.rule("MTLS008")
    assert run.admits("int1")


@pytest.mark.parametrize("directive,der", [("ssl_client_certificate", "chain-root.der"),
                                           ("ssl_crl", "crl-root.der")])
def test_MTLS003_crl_and_ca_in_der_form_fail_nginx_t_and_the_printed_conversion_works(
        tmp_path, chain, directive, der):
    work = tmp_path / "certs"
    work.mkdir()
    (work / der).write_bytes((chain.folder / der).read_bytes())
    ca = chain.chain_root if directive == "ssl_crl" else str(work / der)
    extra = [f"ssl_crl {work / der};"] if directive == "ssl_crl" else []
    bad = Run(tmp_path, "bad", body(ca, *extra), chain)
    finding, = bad.rule("MTLS003")
    check = bad.nginx.check()
    assert check.returncode != 0 and "no certificate or crl found" in check.stderr
    assert "no certificate or crl found" in finding.message
    command = re.search(r"`(openssl [^`]+)`", finding.fix).group(1)
    subprocess.run(shlex.split(command), check=True, capture_output=True, timeout=30)
    converted = re.search(rf"`{directive} ([^;`]+);`", finding.fix).group(1)
    assert Path(converted).exists()
    fixed_extra = [f"ssl_crl {converted};"] if directive == "ssl_crl" else []
    fixed = Run(tmp_path, "fixed", body(converted if directive != "ssl_crl" else ca,
                                        *fixed_extra), chain)
    assert not fixed.rule("MTLS003") and fixed.nginx.check().returncode == 0
    assert fixed.admits("root")


def test_MTLS003_chain_symlinked_ca_works_and_dangling_symlink_fails(tmp_path, chain):
    linked = Run(tmp_path, "link", body(str(chain.folder / "chain-root-link.pem")), chain)
    assert not linked.findings and linked.admits("root")
    dangling = Run(tmp_path, "dangling", body(str(chain.folder / "chain-dangling-link.pem")),
                   chain)
    assert dangling.rule("MTLS003") and dangling.nginx.check().returncode != 0


# CA files nginx -t accepts whose CA OpenSSL 3.0 then refuses as a client's issuer (purpose
# ssl_client, security level 2): the file (and its client, client-<file>-chain.pem) and the
# verify error nginx logs.
REFUSALS = {
    "refused-no-ca-flag": "(26:unsuitable certificate purpose)",
    "refused-key-usage": "(32:key usage does not include certificate signing)",
    "refused-eku-server": "(26:unsuitable certificate purpose)",
    "refused-critical-extension": "(34:unhandled critical extension)",
    "refused-rsa1024": "(67:CA certificate key too weak)",
    "refused-sha1-intermediate": "(68:CA signature digest algorithm too weak)",
    "refused-pathlen": "(25:path length constraint exceeded)",
    "refused-twin-names": "(7:certificate signature failure)",
}


@pytest.mark.parametrize("case", REFUSALS)
def test_MTLS008_chain_ca_openssl_refuses_loads_and_refuses_its_clients(tmp_path, chain, case):
    bad = Run(tmp_path, "bad", body(str(chain.folder / f"{case}.pem")), chain)
    finding, = bad.findings
    assert finding.rule == "MTLS008" and REFUSALS[case][1:-1] in finding.message
    assert bad.nginx.check().returncode == 0
    assert not bad.admits(case)
    assert verify_error(REFUSALS[case]) in bad.logged()


@pytest.mark.parametrize("case,extra", [
    ("accepted-key-usage-without-constraints", ""), ("accepted-eku-client", ""),
    ("accepted-sha1-root", ""), ("accepted-twin-names-key-ids", ""),
    ("refused-rsa1024", "ssl_ciphers HIGH:!aNULL:!MD5:@SECLEVEL=1;")])
def test_MTLS008_chain_ca_openssl_accepts_is_not_reported(tmp_path, chain, case, extra):
    run = Run(tmp_path, "good", body(str(chain.folder / f"{case}.pem"), extra), chain)
    assert not run.findings
    assert run.admits(case)


def test_MTLS004_chain_expired_root_needs_the_issuer_of_its_cross_signed_copy(tmp_path, chain):
    """An expired root and a valid copy of it (same name and key) cross-signed by another
    root: without that other root in the file the copy anchors nothing and nginx refuses the
    clients; with it they are admitted (through the cross-signed copy)."""
    bad = Run(tmp_path, "bad", body(str(chain.folder / "refused-cross-expired-root.pem")), chain)
    finding, = bad.findings
    assert (finding.rule, finding.severity) == ("MTLS004", "error")
    assert not bad.admits("refused-cross-expired-root")
    assert verify_error("(2:unable to get issuer certificate)") in bad.logged()
    good = Run(tmp_path, "good", body(str(chain.folder / "accepted-cross-with-issuer.pem")),
               chain)
    assert [(f.rule, f.severity) for f in good.findings] == [("MTLS004", "note")]
    assert good.admits("accepted-cross-with-issuer")


@pytest.mark.parametrize("pinned,admitted", [("pinned-client", True),
                                             ("pinned-eku-server", False)])
def test_MTLS005_chain_self_signed_client_certificate_in_the_ca_file_admits_its_holder(
        tmp_path, chain, pinned, admitted):
    """A self-signed end-entity certificate next to the origin-pull CA: OpenSSL admits the
    client presenting exactly that certificate (when its extensions allow a client)."""
    bundle = tmp_path / f"aop-plus-{pinned}.pem"
    bundle.write_bytes(Path(aop_ca(chain)).read_bytes() + b"\n"
                       + (chain.folder / f"{pinned}.pem").read_bytes())
    run = Run(tmp_path, pinned, "    real_ip_header CF-Connecting-IP;\n" + body(str(bundle)),
              chain)
    # linted as deployed (on every address: a loopback-only server is not exposed)
    exposed = tmp_path / f"{pinned}-exposed.conf"
    exposed.write_text(run.nginx.conf.read_text().replace("listen 127.0.0.1:", "listen "))
    assert any(f.rule == "MTLS005" for f in lint_in_process([exposed]).findings) is admitted
    assert run.admits(pinned) is admitted
    if not admitted:
        assert verify_error("(26:unsuitable certificate purpose)") in run.logged()


@pytest.mark.parametrize("case,log", [
    ("client-eku-server", "(26:unsuitable certificate purpose)"),
    ("client-eku-any", "(26:unsuitable certificate purpose)"),
    ("client-name-outside", "(47:permitted subtree violation)"),
    ("client-name-inside", None)])
def test_chain_client_certificate_itself_is_judged_by_openssl(tmp_path, chain, case, log):
    """What the linter cannot see: the client's own extendedKeyUsage must include clientAuth
    (anyExtendedKeyUsage does not do), and its names must fit the CA's name constraints."""
    run = Run(tmp_path, case, body(str(chain.folder / f"{case}.pem")), chain)
    assert not run.findings
    assert run.admits(case) is (log is None)
    if log is not None:
        assert verify_error(log) in run.logged()
