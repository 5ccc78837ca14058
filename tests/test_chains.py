"""The trust set: chains, declared hierarchies (root or issuing intermediate), depth, CRL
options and bad CA/CRL input (a diagnostic, never a traceback, never key material)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import lint_in_process, lint_json, run_cli
from nginx_mtls_lint import cafile
from nginx_mtls_lint.trust import TrustSet

CF_SERVER = """server {{
    listen 443 ssl;
    server_name shop.example.com;
    real_ip_header CF-Connecting-IP;
    ssl_client_certificate {ca};
    ssl_verify_client on;
{extra}}}
"""


# Content for the server (a server that serves nobody content gives another CA's clients
# nothing yet: MTLS005 is then a warning)
APPLICATION = "    location / {\n        proxy_pass http://127.0.0.1:3000;\n    }\n"


def conf(tmp_path: Path, ca: Path | str, extra: str = "", name: str = "s.conf") -> Path:
    path = tmp_path / name
    path.write_text(CF_SERVER.format(ca=ca, extra=extra))
    return path


def fingerprint(path: Path, subject: str) -> str:
    return next(c.sha256 for c in cafile.CAStore().inspect(str(path)).certs
                if c.subject == f"CN={subject}")


def found(result) -> set[tuple[str, str]]:
    return {(f.rule, f.severity) for f in result.findings}


def test_trust_set_roots_intermediates_and_levels(certs_dir):
    store = cafile.CAStore()
    trust = TrustSet((("ssl_client_certificate", store.inspect(str(certs_dir / "chain-full.pem"))),))
    assert [c.subject for c in trust.roots] == ["CN=Chain Root CA"]
    assert trust.level == {"CN=Chain Root CA": 0, "CN=Chain Intermediate 1": 1,
                           "CN=Chain Intermediate 2": 2}
    assert len(trust.anchored) == 3
    broken = TrustSet((("ssl_client_certificate",
                        store.inspect(str(certs_dir / "chain-root-int2.pem"))),))
    lacking, = broken.lacking_issuer(frozenset(c.sha256 for c in broken.certs))
    assert lacking.subject == "CN=Chain Intermediate 2"
    assert lacking.sha256 not in broken.anchored


def test_declared_root_makes_its_intermediates_its_hierarchy(tmp_path, certs_dir):
    full = certs_dir / "chain-full.pem"
    path = conf(tmp_path, full, "    ssl_verify_depth 2;\n" + APPLICATION)
    assert ("MTLS005", "error") in found(lint_in_process([path]))  # not Cloudflare's CA
    declared = [("shop.example.com", frozenset({fingerprint(full, "Chain Root CA")}))]
    assert found(lint_in_process([path], expected_cas=declared)) == set()


def test_another_ca_on_a_server_that_serves_nobody_is_a_warning(tmp_path, certs_dir):
    """No content on the server (nginx's welcome page only): that CA's clients get nothing
    yet (found by the differential harness, issue 19)."""
    path = conf(tmp_path, certs_dir / "chain-full.pem", "    ssl_verify_depth 2;\n")
    found = [f for f in lint_in_process([path]).findings if f.rule == "MTLS005"]
    assert found and all(f.severity == "warning" and "gives nobody content" in f.message
                         for f in found)


def test_declared_issuing_intermediate_takes_its_root_and_judges_the_depth(tmp_path, certs_dir):
    full = certs_dir / "chain-full.pem"
    declared = [("shop.example.com", frozenset({fingerprint(full, "Chain Intermediate 2")}))]
    result = lint_in_process([conf(tmp_path, full)], expected_cas=declared)
    finding, = result.findings
    assert finding.rule == "MTLS008" and finding.fix == "ssl_verify_depth 2;"
    # an intermediate beside the declared one, under the same root, is another way in
    other = certs_dir / "chain-root-int1.pem"
    declared = [("shop.example.com", frozenset({fingerprint(other, "Chain Root CA")}))]
    assert found(lint_in_process([conf(tmp_path, other)], expected_cas=declared)) == set()


def test_declared_intermediate_absent_from_the_files_leaves_the_depth_unknown(tmp_path,
                                                                              certs_dir):
    declared = [("shop.example.com",
                 frozenset({fingerprint(certs_dir / "chain-full.pem", "Chain Intermediate 2")}))]
    result = lint_in_process([conf(tmp_path, certs_dir / "chain-root.pem")],
                             expected_cas=declared)
    assert not [f for f in result.findings if f.rule == "MTLS008"]


def test_intermediate_of_another_ca_beside_cloudflare_still_admits_others(tmp_path, certs_dir):
    """An anchored chain beside the expected CA admits its clients: MTLS005 keeps firing."""
    path = conf(tmp_path, certs_dir / "chain-root-int1.pem",
                f"    ssl_trusted_certificate {certs_dir}/chain-other-expired-int.pem;\n"
                + APPLICATION)
    declared = [("shop.example.com",
                 frozenset({fingerprint(certs_dir / "chain-root.pem", "Chain Root CA")}))]
    result = lint_in_process([path], expected_cas=declared)
    assert {(f.rule, f.severity, f.line) for f in result.findings} == {
        ("MTLS005", "error", 7), ("MTLS004", "note", 7)}


def test_crl_warning_hours_from_flag_and_configuration(tmp_path, certs_dir):
    path = conf(tmp_path, certs_dir / "chain-root.pem",
                f"    ssl_crl {certs_dir}/crl-root-expiring.pem;\n")

    def stale(*args: str) -> list[str]:
        document = lint_json(str(path), *args, cwd=tmp_path)
        return [f["severity"] for f in document["findings"] if f["rule"] == "MTLS004"]

    assert stale() == ["warning"]  # expires in 5 hours, default 24
    assert stale("--crl-warning-hours", "2") == []
    (tmp_path / ".nginx-mtls-lint.yaml").write_text("crl-warning-hours: 2\n")
    assert stale() == []
    assert stale("--crl-warning-hours", "12") == ["warning"]
    (tmp_path / ".nginx-mtls-lint.yaml").write_text("crl-warning-hours: soon\n")
    result = run_cli(str(path), cwd=tmp_path)
    assert result.returncode == 2 and b"crl-warning-hours" in result.stderr


KEY_MARKER = "MIGHAgEAMBMGByqGSM49"  # the start of every PKCS#8 P-256 key body


@pytest.mark.parametrize("label,make", [
    ("huge", lambda d: b"-----BEGIN X509 CRL-----\n" + b"A" * (cafile.MAX_CA_BYTES + 10)),
    ("binary", lambda d: b"\x30\x82" + os.urandom(4000)),
    ("truncated", lambda d: (d / "crl-all.pem").read_bytes()[:-100]),
    ("truncated-ca", lambda d: (d / "chain-full.pem").read_bytes()[:-200]),
    ("bad-base64", lambda d: b"-----BEGIN X509 CRL-----\n!!!!\n-----END X509 CRL-----\n"),
    ("private-key", lambda d: (d / "crl-with-key.pem").read_bytes()),
    ("only-key", lambda d: (d / "client-root-key.pem").read_bytes()),
])
@pytest.mark.parametrize("directive", ["ssl_crl", "ssl_client_certificate"])
def test_bad_crl_or_ca_file_gets_a_diagnostic(tmp_path, certs_dir, label, make, directive):
    bad = tmp_path / f"{label}.pem"
    bad.write_bytes(make(certs_dir))
    ca = bad if directive == "ssl_client_certificate" else certs_dir / "chain-root.pem"
    extra = f"    ssl_crl {bad};\n" if directive == "ssl_crl" else ""
    path = conf(tmp_path, ca, extra)
    for fmt in ("json", "console") if "key" in label else ("json",):
        result = run_cli("--format", fmt, str(path), cwd=tmp_path)
        output = result.stdout.decode() + result.stderr.decode()
        assert "Traceback" not in output and result.returncode == 1, output
        assert KEY_MARKER not in output
        if fmt == "json":
            document = json.loads(result.stdout)
    at_line = {f["rule"] for f in document["findings"]
               if f["line"] == (7 if directive == "ssl_crl" else 5)}
    assert "MTLS003" in at_line, document["findings"]


def test_inspect_shows_each_servers_roots_intermediates_and_what_they_chain_to(tmp_path,
                                                                                certs_dir):
    path = conf(tmp_path, certs_dir / "chain-root-int2.pem")
    result = run_cli("inspect", "--format", "json", str(path), cwd=tmp_path)
    chains = json.loads(result.stdout)["servers"][0]["client_chains"]
    assert [(r["subject"], r["intermediates_above"]) for r in chains["roots"]] == [
        ("CN=Chain Root CA", 0)]
    lacking, = chains["intermediates"]
    assert (lacking["subject"], lacking["issuer"], lacking["chains_to"]) == (
        "CN=Chain Intermediate 2", "CN=Chain Intermediate 1", None)
    full = json.loads(run_cli("inspect", "--format", "json",
                              str(conf(tmp_path, certs_dir / "chain-full.pem")),
                              cwd=tmp_path).stdout)["servers"][0]["client_chains"]
    assert {(i["subject"], i["intermediates_above"], i["chains_to"])
            for i in full["intermediates"]} == {
        ("CN=Chain Intermediate 1", 1, "CN=Chain Root CA"),
        ("CN=Chain Intermediate 2", 2, "CN=Chain Root CA")}
