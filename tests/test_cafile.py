"""CA inspection: parsed once per run, fingerprints match Cloudflare's files, key material
never printed, declared zone-level CAs accepted."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import lint_in_process, lint_json, make_cert, pem, shared_file
from nginx_mtls_lint import cafile, cloudflare
from nginx_mtls_lint.trust import TrustSet, refusal, security_level


def test_embedded_fingerprints_match_cloudflare_files():
    facts = json.loads(shared_file("data/cloudflare/certs.json").read_text())["certificates"]
    assert facts["origin-pull-ca.pem"]["sha256_fingerprint"] == cloudflare.AOP_CA
    assert facts["origin-pull-ca-2015-expired.pem"]["sha256_fingerprint"] == cloudflare.AOP_CA_2015
    for name in ("origin_ca_rsa_root.pem", "origin_ca_ecc_root.pem"):
        assert facts[name]["sha256_fingerprint"] in cloudflare.ORIGIN_CA_ROOTS
    store = cafile.CAStore()
    for name in ("origin-pull-ca.pem", "origin-pull-ca-2015-expired.pem"):
        info = store.inspect(str(shared_file(f"data/cloudflare/{name}")))
        assert info.problem is None and info.fingerprints <= cloudflare.AOP_CAS.keys()


def test_cloudflare_ca_files_are_cas_openssl_accepts_at_level_2():
    """RSA 4096 with SHA-512 (origin-pull), RSA 2048 and P-256 (Origin CA roots): nothing
    OpenSSL refuses, even for the expired 2015 issue (only its dates refuse it)."""
    store = cafile.CAStore()
    for name in ("origin-pull-ca.pem", "origin-pull-ca-2015-expired.pem",
                 "origin_ca_rsa_root.pem", "origin_ca_ecc_root.pem"):
        cert, = store.inspect(str(shared_file(f"data/cloudflare/{name}"))).certs
        assert cert.is_ca and cert.path_len == 2 and refusal(cert, 2) is None
    cert, = store.inspect(str(shared_file("data/cloudflare/origin-pull-ca.pem"))).certs
    assert (cert.key_bits, cert.signature_bits) == (128, 256)


def test_security_level_comes_from_ssl_ciphers():
    assert security_level(None) == 2 and security_level("HIGH:!aNULL:!MD5") == 2
    assert security_level("DEFAULT:@SECLEVEL=1") == 1
    assert security_level("@SECLEVEL=0:ALL") == 0


def test_cloudflare_ranges_match_published_lists():
    for name in ("ips-v4.txt", "ips-v6.txt"):
        for line in shared_file(f"data/cloudflare/{name}").read_text().split():
            assert cloudflare.is_cloudflare_range(line)
    assert not cloudflare.is_cloudflare_range("10.0.0.0/8")
    assert cloudflare.is_cloudflare_range("173.245.48.7")


def test_each_ca_file_is_parsed_once_per_run(tmp_path: Path, monkeypatch, certs_dir):
    calls, trust_sets = [], []
    real, real_trust = cafile._inspect, TrustSet.__init__
    monkeypatch.setattr(cafile, "_inspect", lambda path: calls.append(path) or real(path))
    monkeypatch.setattr(TrustSet, "__init__",
                        lambda self, sources, *level: trust_sets.append(sources)
                        or real_trust(self, sources, *level))
    servers = "".join(
        f"server {{ listen 443 ssl; server_name s{i}.test;\n"
        f"  ssl_client_certificate {certs_dir}/internal-ca.pem; ssl_verify_client on; }}\n"
        for i in range(50))
    conf = tmp_path / "many.conf"
    conf.write_text(servers)
    lint_in_process([conf])
    assert calls == [f"{certs_dir}/internal-ca.pem"]
    assert len(trust_sets) == 1  # one trust set per distinct set of CA files


def test_private_key_material_is_never_printed(tmp_path: Path, certs_dir):
    conf = tmp_path / "k.conf"
    conf.write_text("server { listen 443 ssl; server_name k.test;\n"
                    f"  ssl_client_certificate {certs_dir}/ca-with-key.pem;\n"
                    "  ssl_verify_client on; }\n")
    document = lint_json(str(conf), cwd=tmp_path)
    text = json.dumps(document)
    key_body = (certs_dir / "ca-with-key.pem").read_text().split("PRIVATE KEY-----")[1][:40]
    assert "private key" in text and key_body.strip()[:20] not in text


def test_declared_zone_level_ca_is_accepted_and_others_flagged(tmp_path: Path):
    ca, _ = make_cert("Shop Zone AOP CA")
    (tmp_path / "zone-ca.pem").write_bytes(pem(ca))
    conf = tmp_path / "shop.conf"
    conf.write_text("server { listen 443 ssl; server_name shop.example.com;\n"
                    "  real_ip_header CF-Connecting-IP;\n"
                    f"  ssl_client_certificate {tmp_path}/zone-ca.pem;\n"
                    "  ssl_verify_client on; }\n")
    fingerprint = cafile.CAStore().inspect(str(tmp_path / "zone-ca.pem")).certs[0].sha256
    flagged = lint_in_process([conf])

    def errors(result):
        return [(f.rule, f.line) for f in result.findings if f.severity != "note"]

    assert errors(flagged) == [("MTLS005", 3)]
    declared = lint_in_process([conf], expected_cas=[("*.example.com",
                                                      frozenset({fingerprint}))])
    assert errors(declared) == []
