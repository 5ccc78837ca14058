"""Shared test helpers: paths, strict mode, a PKI generated at test time, lint runners."""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
SHARED = Path(os.environ.get("NGINX_MTLS_LINT_SHARED", ROOT.parent / "shared"))
# CI sets this: a test that would skip for missing shared data or nginx fails instead.
STRICT = os.environ.get("NGINX_MTLS_LINT_STRICT") == "1"
EXPECT = re.compile(r"#\s*expect:\s*([A-Z0-9, ]+)")

CLOUDFLARE_FILES = {
    "origin-pull-ca.pem": "origin-pull-ca.pem",
    "origin-pull-ca-2015.pem": "origin-pull-ca-2015-expired.pem",
    "origin_ca_rsa_root.pem": "origin_ca_rsa_root.pem",
    "origin_ca_ecc_root.pem": "origin_ca_ecc_root.pem",
}


def skip_or_fail(reason: str):
    if STRICT:
        pytest.fail(f"{reason} (NGINX_MTLS_LINT_STRICT=1 requires it)")
    pytest.skip(reason)


def shared_file(relative: str) -> Path:
    path = SHARED / relative
    if not path.exists():
        skip_or_fail(f"{path} is absent: shared data is only in the development workspace")
    return path


# --------------------------------------------------------------------------- PKI

def _name(cn: str):
    from cryptography.x509.oid import NameOID
    from cryptography import x509

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_cert(cn: str, *, issuer=None, ca: bool = True, days_from: int = -1,
              days_to: int = 3650, key=None, key_ids: bool = False,
              constraints: bool = True, path_length: int | None = None, extensions=()):
    """A certificate (and its key); self-signed unless issuer=(cert, key). `key_ids` adds
    the subject and authority key identifiers real CAs put in their certificates;
    `constraints=False` leaves out basicConstraints; `extensions` are (extension, critical)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = key or ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    issuer_cert, issuer_key = issuer if issuer else (None, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer_cert.subject if issuer_cert else _name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + dt.timedelta(days=days_from))
        .not_valid_after(now + dt.timedelta(days=days_to))
    )
    if constraints:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=path_length),
                                        critical=True)
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
    if key_ids:
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        ).add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer_key.public_key()), critical=False)
    return builder.sign(issuer_key, hashes.SHA256()), key


def pem(*certs) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return b"".join(c.public_bytes(Encoding.PEM) for c in certs)


def make_crl(issuer, *, revoked=(), hours_from: float = -1, hours_to: float = 24 * 7):
    """A CRL signed by issuer=(cert, key), revoking the given certificates."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    cert, key = issuer
    now = dt.datetime.now(dt.timezone.utc)
    builder = (x509.CertificateRevocationListBuilder()
               .issuer_name(cert.subject)
               .last_update(now + dt.timedelta(hours=hours_from))
               .next_update(now + dt.timedelta(hours=hours_to)))
    for victim in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(victim.serial_number)
            .revocation_date(now - dt.timedelta(hours=2)).build())
    return builder.sign(key, hashes.SHA256())


def der(item) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return item.public_bytes(Encoding.DER)


def write_chain_pki(folder: Path) -> None:
    """A root, two levels of intermediates and a client at each level, with CRLs current,
    expired, expiring, from another issuer and revoking the first intermediate; CA and CRL
    bundles named chain-*.pem and crl-*.pem (the fixtures of MTLS008 and the nginx tests)."""
    root = make_cert("Chain Root CA")
    int1 = make_cert("Chain Intermediate 1", issuer=root)
    int2 = make_cert("Chain Intermediate 2", issuer=int1)
    other = make_cert("Chain Other CA")
    expired_int = make_cert("Chain Expired OCSP Intermediate", issuer=other,
                            days_from=-400, days_to=-5)
    files = {
        "chain-root.pem": pem(root[0]),
        "chain-root-int1.pem": pem(root[0], int1[0]),
        "chain-full.pem": pem(root[0], int1[0], int2[0]),
        "chain-int1-only.pem": pem(int1[0]),
        "chain-int1-int2.pem": pem(int1[0], int2[0]),
        "chain-root-int2.pem": pem(root[0], int2[0]),
        "chain-int2-only.pem": pem(int2[0]),
        "chain-other-expired-int.pem": pem(other[0], expired_int[0]),
        "crl-root.pem": pem(make_crl(root)),
        "crl-root-int1.pem": pem(make_crl(root), make_crl(int1)),
        "crl-all.pem": pem(make_crl(root), make_crl(int1), make_crl(int2)),
        "crl-root-expired.pem": pem(make_crl(root, hours_from=-48, hours_to=-1)),
        "crl-root-expiring.pem": pem(make_crl(root, hours_to=5)),
        "crl-other.pem": pem(make_crl(other)),
        "crl-root-other.pem": pem(make_crl(root), make_crl(other, hours_from=-48, hours_to=-1)),
        "crl-revokes-int1.pem": pem(make_crl(root, revoked=[int1[0]]), make_crl(int1)),
        "crl-root.der": der(make_crl(root)),
        "chain-root.der": der(root[0]),
        "crl-with-key.pem": pem(make_crl(root)) + key_pem(root[1]),
    }
    for label, issuer in (("root", root), ("int1", int1), ("int2", int2)):
        leaf, leaf_key = make_cert(f"client-{label}.chain", issuer=issuer, ca=False, days_to=30)
        files[f"client-{label}.pem"] = pem(leaf)
        files[f"client-{label}-key.pem"] = key_pem(leaf_key)
        # what a client sends: its certificate and the intermediates below the root
        files[f"client-{label}-chain.pem"] = pem(leaf, *{
            "root": [], "int1": [int1[0]], "int2": [int2[0], int1[0]]}[label])
    for name, data in files.items():
        (folder / name).write_bytes(data)
    (folder / "chain-root-link.pem").symlink_to("chain-root.pem")
    (folder / "chain-dangling-link.pem").symlink_to("no-such-file.pem")


def sha1_signed(cert, issuer_key):
    """`cert` (signed with SHA-256 and RSA) signed again with SHA-1, which `cryptography` no
    longer does itself: the same TBS with the algorithm identifier swapped."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    def tlv(tag: int, body: bytes) -> bytes:
        size = len(body)
        length = bytes([size]) if size < 0x80 else (
            bytes([0x80 | ((size.bit_length() + 7) // 8)])
            + size.to_bytes((size.bit_length() + 7) // 8, "big"))
        return bytes([tag]) + length + body

    sha256_rsa, sha1_rsa = bytes.fromhex("2a864886f70d01010b"), bytes.fromhex("2a864886f70d010105")
    tbs = cert.tbs_certificate_bytes.replace(sha256_rsa, sha1_rsa)
    signature = issuer_key.sign(tbs, padding.PKCS1v15(), hashes.SHA1())
    algorithm = tlv(0x30, tlv(0x06, sha1_rsa) + b"\x05\x00")
    return x509.load_der_x509_certificate(tlv(0x30, tbs + algorithm + tlv(0x03, b"\x00" + signature)))


def write_refusal_pki(folder: Path) -> None:
    """CA files OpenSSL 3.0 loads (nginx -t passes) and then refuses as the issuer of a client
    (refused-*.pem), the ones it accepts that look alike (accepted-*.pem), and a client of
    each (client-<file stem>-chain.pem and -key.pem): the fixtures of MTLS008 and MTLS004 and
    the nginx tests of test_nginx_chains.py."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID

    def ca(cn, *extensions, **kw):
        return make_cert(cn, extensions=extensions, **kw)

    def usage(cert_sign: bool):
        return x509.KeyUsage(True, False, False, False, False, cert_sign, cert_sign, False,
                             False), True

    def eku(oid):
        return x509.ExtendedKeyUsage([oid]), False

    rsa_root = ca("Refusal RSA Root", key=rsa.generate_private_key(65537, 2048))
    sha1_int = ca("Refusal SHA-1 Intermediate", issuer=rsa_root)
    sha1_int = sha1_signed(sha1_int[0], rsa_root[1]), sha1_int[1]
    sha1_root_key = rsa.generate_private_key(65537, 2048)
    sha1_root = sha1_signed(ca("Refusal SHA-1 Root", key=sha1_root_key)[0], sha1_root_key), \
        sha1_root_key
    pathlen_root = ca("Refusal Pathlen 0 Root", path_length=0)
    pathlen_int = ca("Refusal Intermediate Under Pathlen 0", issuer=pathlen_root)
    # an expired root and a valid copy of it (same name and key) cross-signed by another root
    old_root = ca("Refusal Cross Root", key=rsa_root[1], days_from=-800, days_to=-10)
    other_root = ca("Refusal Other Root")
    cross = ca("Refusal Cross Root", key=rsa_root[1], issuer=other_root)
    unknown = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"),
                                         b"\x05\x00")
    # file stem -> (the certificates of the file, the CA that issues its client)
    cases = {
        "refused-no-ca-flag": [ca("Refusal No basicConstraints", constraints=False)],
        "refused-key-usage": [ca("Refusal keyUsage Without keyCertSign", usage(False))],
        "refused-eku-server": [ca("Refusal EKU serverAuth",
                                  eku(ExtendedKeyUsageOID.SERVER_AUTH))],
        "refused-critical-extension": [ca("Refusal Critical Extension", (unknown, True))],
        "refused-rsa1024": [ca("Refusal RSA 1024 Root",
                               key=rsa.generate_private_key(65537, 1024))],
        "refused-sha1-intermediate": [rsa_root, sha1_int],
        "refused-pathlen": [pathlen_root, pathlen_int],
        "refused-cross-expired-root": [old_root, cross],
        "accepted-key-usage-without-constraints": [
            ca("Accepted keyUsage Only", usage(True), constraints=False)],
        "accepted-eku-client": [ca("Accepted EKU clientAuth",
                                   eku(ExtendedKeyUsageOID.CLIENT_AUTH))],
        "accepted-sha1-root": [sha1_root],
        "accepted-cross-with-issuer": [old_root, cross, other_root],
        # two valid CAs of one name and two keys, the client's being the second
        "refused-twin-names": [ca("Refusal Twin CA"), ca("Refusal Twin CA")],
        "accepted-twin-names-key-ids": [ca("Accepted Twin CA", key_ids=True),
                                        ca("Accepted Twin CA", key_ids=True)],
    }
    for stem, certs in cases.items():
        issuer = certs[1] if "cross" in stem else certs[-1]
        leaf, leaf_key = make_cert(f"{stem}.client", issuer=issuer, ca=False, days_to=30,
                                   key_ids=stem.endswith("key-ids"))
        # the client sends its certificate alone: the CA file holds the intermediates (and a
        # client's own OpenSSL refuses to load a chain with a SHA-1 one at level 2)
        (folder / f"{stem}.pem").write_bytes(pem(*(cert for cert, _ in certs)))
        (folder / f"client-{stem}-chain.pem").write_bytes(pem(leaf))
        (folder / f"client-{stem}-key.pem").write_bytes(key_pem(leaf_key))
    # clients whose own certificate OpenSSL judges (the linter does not see it): file stem ->
    # (the CA's extensions, the client's name, the client's extensions)
    constrained = (x509.NameConstraints([x509.DNSName("allowed.test")], None), True)
    for stem, ca_extensions, client, client_extensions in (
            ("client-eku-server", (), "eku.client", (eku(ExtendedKeyUsageOID.SERVER_AUTH),)),
            ("client-eku-any", (), "any.client",
             (eku(ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE),)),
            ("client-name-outside", (constrained,), "outside.test", ()),
            ("client-name-inside", (constrained,), "inside.allowed.test", ())):
        issuer = ca(f"Client Check {stem}", *ca_extensions)
        leaf, leaf_key = make_cert(client, issuer=issuer, ca=False, days_to=30,
                                   extensions=client_extensions)
        (folder / f"{stem}.pem").write_bytes(pem(issuer[0]))
        (folder / f"client-{stem}-chain.pem").write_bytes(pem(leaf))
        (folder / f"client-{stem}-key.pem").write_bytes(key_pem(leaf_key))
    # self-signed end-entity certificates put in a CA file: their own client (a pinned one)
    for stem, extensions in (("pinned-client", ()),
                             ("pinned-eku-server", (eku(ExtendedKeyUsageOID.SERVER_AUTH),))):
        leaf, leaf_key = make_cert(f"{stem}.client", ca=False, days_to=30, extensions=extensions)
        for name in (f"{stem}.pem", f"client-{stem}-chain.pem"):
            (folder / name).write_bytes(pem(leaf))
        (folder / f"client-{stem}-key.pem").write_bytes(key_pem(leaf_key))


def key_pem(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.fixture(scope="session")
def certs_dir(tmp_path_factory) -> Path:
    """Stands for /etc/nginx/certs in every fixture (mapped with --path-map)."""
    d = tmp_path_factory.mktemp("certs")
    internal, internal_key = make_cert("Internal Client CA")
    other, _ = make_cert("Other Client CA")
    intermediate, _ = make_cert("Internal Intermediate CA", issuer=(internal, internal_key))
    leaf, leaf_key = make_cert("client.example.com", issuer=(internal, internal_key), ca=False)
    files = {
        "internal-ca.pem": pem(internal),
        "client-ca.pem": pem(internal),  # the expected CA of fixtures/flow/
        "other-ca.pem": pem(other),
        "internal-plus-other.pem": pem(internal, other),
        "intermediate-only.pem": pem(intermediate),
        "expired-ca.pem": pem(make_cert("Expired CA", days_from=-800, days_to=-30)[0]),
        "expiring-ca.pem": pem(make_cert("Expiring CA", days_to=10)[0]),
        "future-ca.pem": pem(make_cert("Future CA", days_from=30, days_to=900)[0]),
        "leaf-only.pem": pem(leaf),
        "ca-with-key.pem": pem(internal) + key_pem(leaf_key),
        "empty.pem": b"",
        "garbage.pem": b"this is not a certificate\n",
        "server.pem": pem(leaf),
        "server.key": key_pem(leaf_key),
    }
    for name, data in files.items():
        (d / name).write_bytes(data)
    (d / "a-directory.pem").mkdir()
    write_chain_pki(d)
    write_refusal_pki(d)
    if SHARED.exists():
        cf = SHARED / "data" / "cloudflare"
        for name, source in CLOUDFLARE_FILES.items():
            shutil.copyfile(cf / source, d / name)
        current = (cf / "origin-pull-ca.pem").read_bytes()
        (d / "origin-pull-plus-internal.pem").write_bytes(current + b"\n" + pem(internal))
        (d / "origin-pull-both-issues.pem").write_bytes(
            (cf / "origin-pull-ca-2015-expired.pem").read_bytes() + b"\n" + current)
        (d / "origin-pull-plus-intermediate.pem").write_bytes(
            current + b"\n" + pem(intermediate))
        for name in ("refused-eku-server", "pinned-client", "pinned-eku-server"):
            (d / f"origin-pull-plus-{name}.pem").write_bytes(
                current + b"\n" + (d / f"{name}.pem").read_bytes())
    return d


def sarif_errors(log: dict) -> list:
    """Where a SARIF log breaks the 2.1.0 schema (formats checked too)."""
    import jsonschema
    schema = json.loads(shared_file("data/sarif/sarif-schema-2.1.0.json").read_text())
    validator = jsonschema.validators.validator_for(schema)(
        schema, format_checker=jsonschema.FormatChecker())
    return list(validator.iter_errors(log))


def needs_cloudflare_files(text: str) -> bool:
    return "origin-pull" in text or "origin_ca_" in text


# --------------------------------------------------------------------------- running the linter

def run_cli(*args: str, cwd: Path | None = None, stdin: bytes | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nginx_mtls_lint", *args], cwd=cwd or ROOT,
                          input=stdin, capture_output=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def cli_in_process(*args: str, cwd: Path) -> tuple[int, bytes, str]:
    """(exit code, report bytes, stderr) of one CLI run in this process, its report written
    with -o (as bytes, whatever they hold): for tests that need many runs and no fresh
    interpreter (subprocess tests keep the entry point honest)."""
    import contextlib
    import io
    from nginx_mtls_lint import cli

    command = [args[0]] if args and args[0] in cli.COMMANDS else []
    report, errors, before = cwd / ".report.out", io.StringIO(), os.getcwd()
    try:
        os.chdir(cwd)
        with contextlib.redirect_stderr(errors):
            code = cli.main([*command, "-o", str(report), *args[len(command):]])
    finally:
        os.chdir(before)
        gc.enable()  # cli.main turns the collector off for its own short process
    data = report.read_bytes() if report.exists() else b""
    report.unlink(missing_ok=True)
    return code, data, errors.getvalue()


def lint_json(*args: str, cwd: Path | None = None, stdin: bytes | None = None) -> dict:
    result = run_cli("--format", "json", *args, cwd=cwd, stdin=stdin)
    assert b"Traceback" not in result.stderr, result.stderr.decode()
    assert result.returncode in (0, 1), result.stderr.decode()
    return json.loads(result.stdout)


def lint_in_process(paths, **kw):
    """Fast path for fixture tests: the same pipeline as the CLI, without a subprocess."""
    from nginx_mtls_lint.cloudflare import CloudflareOptions
    from nginx_mtls_lint.lint import LintOptions, lint
    from nginx_mtls_lint.loader import LoadOptions
    from nginx_mtls_lint.rules import RuleContext
    from nginx_mtls_lint.versions import UNKNOWN

    options = LintOptions(
        load=LoadOptions(prefix=kw.get("prefix"), path_map=kw.get("path_map", [])),
        cloudflare=CloudflareOptions(kw.get("hosts", []), kw.get("assume", False)),
        context=RuleContext(expected_cas=kw.get("expected_cas", []),
                            target=kw.get("target", UNKNOWN)),
    )
    return lint([str(p) for p in paths], options)


def expectations(folder_or_file: Path) -> set[tuple[str, int, str]]:
    """(absolute file, line, rule) from `# expect: RULE[, RULE]` comments."""
    files = [folder_or_file] if folder_or_file.is_file() else sorted(
        p for p in folder_or_file.rglob("*") if p.is_file())
    found = set()
    for path in files:
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            match = EXPECT.search(line)
            if match:
                for rule in re.split(r"[,\s]+", match.group(1).strip()):
                    if rule:
                        found.add((str(path.resolve()), number, rule))
    return found


# A message says what and why, never where (the locations it speaks of are `related`): a
# file of the fixtures, or any path-like word, followed by `:line` is a location in prose.
MESSAGE_LOCATION = re.compile("|".join([
    *(rf"(?<![\w.-]){re.escape(name)}:\d" for name in sorted(
        {p.name for p in FIXTURES.rglob("*") if p.is_file()}, key=len, reverse=True)),
    r"[\w.-]+\.(?:conf|yaml|yml|vhost|pem|crt):\d",
    r"(?<![\w.:/-])[\w.-]*/[\w./-]*[A-Za-z][\w.-]*:\d+\b"]))


def not_as_data(findings) -> list[str]:
    """Findings that are not fully data: a message that names a file:line (the locations go
    to `related`), or no fix (every finding has one: edits, or display-only advice)."""
    return [*(f"{f.rule} names a location: {f.message}" for f in findings
              if MESSAGE_LOCATION.search(f.message)),
            *(f"{f.rule} has no fix: {f.message}" for f in findings if not f.fixes)]


def finding_set(findings) -> set[tuple[str, int, str]]:
    return {(str(Path(f.file).resolve()), f.line, f.rule) for f in findings}
