"""Inspect CA and CRL files (ssl_client_certificate, ssl_trusted_certificate, ssl_crl) once
per run. OpenSSL loads certificates and CRLs from each of them alike
(X509_load_cert_crl_file), so one reader serves all three."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import os
import re
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .reading import read_limited

if TYPE_CHECKING:
    from cryptography.x509 import Certificate

# A CA bundle is a few hundred KiB at most (the whole Mozilla store is ~220 KiB).
MAX_CA_BYTES = 4 * 1024 * 1024
# The BEGIN and END lines of PEM blocks, found in one pass (pem_blocks pairs them).
PEM_MARKER = re.compile(rb"-----(BEGIN|END) ([A-Z0-9 ]+)-----")
CERT_LABELS = {b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE"}
CRL_LABEL = b"X509 CRL"


@dataclass(frozen=True, slots=True)
class CertInfo:
    sha256: str  # upper-case hex, no colons
    subject: str
    issuer: str
    not_before: dt.datetime
    not_after: dt.datetime
    is_ca: bool  # basicConstraints CA:TRUE, or a self-signed certificate without it
    serial: int = 0
    # What OpenSSL 3.0 checks when it uses the certificate as the CA of a client chain
    # (X509_verify_cert with purpose "ssl_client"):
    # Why it refuses it as any client's CA wherever it sits: (reason, the verify error).
    ca_flaw: tuple[str, str] | None = None
    path_len: int | None = None  # basicConstraints pathLenConstraint
    key_bits: int = 256  # security bits of its public key (check_key_level)
    signature_bits: int = 256  # security bits of its signature hash (check_sig_level)
    # Its extensions allow it as a client certificate (extendedKeyUsage absent or with
    # clientAuth, keyUsage absent or with digitalSignature or keyAgreement): self-signed and
    # in a CA file, OpenSSL admits a client presenting exactly this certificate.
    client_usable: bool = True
    key_sha256: str = ""  # of its SubjectPublicKeyInfo: two issues of one CA share it
    key_id: bool = True  # it has a subjectKeyIdentifier (which tells same-named CAs apart)

    @property
    def self_signed(self) -> bool:
        return self.subject == self.issuer


@dataclass(frozen=True, slots=True)
class CRLInfo:
    issuer: str
    last_update: dt.datetime
    next_update: dt.datetime | None
    revoked: frozenset[int]  # serial numbers


@dataclass(slots=True)
class CAFile:
    path: str  # the file read (after --path-map)
    missing: bool = False
    problem: str | None = None  # why it is unusable as a CA file, when it is
    certs: list[CertInfo] = field(default_factory=list)
    has_private_key: bool = False
    bad_blocks: int = 0
    fingerprints: frozenset[str] = frozenset()  # of `certs`, filled once when read
    crls: list[CRLInfo] = field(default_factory=list)
    crl_problem: str | None = None  # why it is unusable as an ssl_crl file, when it is
    der: str | None = None  # "certificate" or "crl": the file is DER, which nginx cannot load
    dangling_link: str | None = None  # the target of a symbolic link that leads nowhere
    too_large: bool = False  # beyond MAX_CA_BYTES: not read (a CRL may legitimately be)
    # A checkout names it on the deployed host and does not have it (loader's Tree.elsewhere):
    # "not available here", not missing. Its checks are skipped and noted once (MTLS911).
    unavailable: bool = False
    unreadable: str | None = None  # the first block cryptography could not read, and why


def pem_blocks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(label, body) of each PEM block: a BEGIN line and the next END line of the same
    label with nothing but the body between. One pass over the markers: a regex pairing
    them (`BEGIN (..) .*? END \\1`) rescans to the end of the file from every unmatched
    BEGIN, hours on a 4 MiB file of BEGIN lines. A BEGIN left open by another BEGIN, or by
    an END of another label, is damaged (the caller counts BEGIN lines against blocks)."""
    blocks: list[tuple[bytes, bytes]] = []
    open_label: bytes | None = None
    body_start = 0
    for marker in PEM_MARKER.finditer(data):
        kind, label = marker.group(1), marker.group(2)
        if kind == b"BEGIN":
            open_label, body_start = label, marker.end()
        elif label == open_label:
            blocks.append((label, data[body_start:marker.start()].strip()))
            open_label = None
        else:
            open_label = None
    return blocks


def _inspect(path: str) -> CAFile:
    data, missing, problem = read_limited(path, MAX_CA_BYTES)
    info = CAFile(path, missing=missing, problem=problem, crl_problem=problem,
                  too_large=bool(problem and problem.startswith("is larger than")))
    if data is None:
        if missing:
            info.problem = info.crl_problem = "does not exist"
            if os.path.islink(path):
                info.dangling_link = os.readlink(path)
        return info
    blocks = pem_blocks(data)
    info.has_private_key = any(b"PRIVATE KEY" in label for label, _ in blocks)
    for label, body in blocks:
        if label in CERT_LABELS or label == CRL_LABEL:
            _read_block(info, label, body)
    info.fingerprints = frozenset(c.sha256 for c in info.certs)
    if not blocks and data.startswith(b"\x30"):
        info.der = _der_kind(data)
    if not data.strip():
        info.problem = info.crl_problem = "is empty"
    elif info.der:
        info.problem = info.crl_problem = (
            f"is a {'CRL' if info.der == 'crl' else 'certificate'} in DER form, not PEM "
            "(nginx -t fails: \"no certificate or crl found\")")
    elif not blocks and b"-----BEGIN " not in data:
        info.problem = "is not PEM (no -----BEGIN CERTIFICATE----- block)"
        info.crl_problem = "is not PEM (no -----BEGIN X509 CRL----- block)"
    elif info.bad_blocks or data.count(b"-----BEGIN ") > len(blocks):
        # OpenSSL stops at the first damaged block and nginx refuses the whole file.
        info.problem = info.crl_problem = (
            "holds a damaged PEM block (truncated, or not valid base64 or DER), and nginx -t "
            "fails (\"bad end line\" or \"bad base64 decode\")")
    elif info.unreadable:
        # well-formed PEM whose DER cryptography refuses: OpenSSL may load it and still
        # refuse it in a chain (a duplicated extension is EXFLAG_INVALID): not judged
        info.problem = info.crl_problem = (
            f"holds {info.unreadable}; what it allows was not checked: fix or remove it")
    else:
        _judge_contents(info)
    return info


def _read_block(info: CAFile, label: bytes, body: bytes) -> None:
    """One certificate or CRL block into `info`; whatever cryptography raises on it is a
    finding on the file (a damaged block, or one it cannot read), never the run's end."""
    try:
        der = base64.b64decode(b"".join(body.split()), validate=True)
        if label == CRL_LABEL:
            info.crls.append(_crl_info(der))
        else:
            info.certs.append(_cert_info(der))
    except (ValueError, binascii.Error):
        info.bad_blocks += 1
    except Exception as e:  # DuplicateExtension, InvalidVersion, TypeError, ...
        info.unreadable = info.unreadable or (
            f"{'a CRL' if label == CRL_LABEL else 'a certificate'} the linter cannot "
            f"read ({type(e).__name__}: {str(e)[:120]})")


def _judge_contents(info: CAFile) -> None:
    """The problems of well-formed PEM: no CA certificate, no CRL."""
    if not info.certs:
        info.problem = "holds no readable certificate"
    elif not any(c.is_ca for c in info.certs):
        info.problem = "holds no CA certificate (only end-entity certificates)"
        if any(c.self_signed and c.client_usable for c in info.certs):
            info.problem = ("holds no CA certificate, only end-entity certificates (OpenSSL "
                            "admits a client presenting exactly a self-signed one of them, "
                            "and no certificate they issued)")
    if not info.crls and not info.certs:
        # nginx -t fails ("no certificate or crl found") ...
        info.crl_problem = "holds no readable CRL (nginx -t fails: \"no certificate or crl found\")"
    elif not info.crls:
        # ... but certificates alone load, and then every client is refused.
        info.crl_problem = ("holds certificates but no CRL, so nginx refuses every client "
                            "certificate (\"unable to get certificate CRL\")")


def _der_kind(data: bytes) -> str | None:
    """What a DER file holds, for the conversion command: "certificate", "crl" or None."""
    from cryptography import x509

    for kind, load in (("certificate", x509.load_der_x509_certificate),
                       ("crl", x509.load_der_x509_crl)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                load(data)
            return kind
        except ValueError:
            continue
    return None


def _crl_info(der: bytes) -> CRLInfo:
    from cryptography import x509

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        crl = x509.load_der_x509_crl(der)
        return CRLInfo(
            issuer=crl.issuer.rfc4514_string(),
            last_update=crl.last_update_utc,
            next_update=crl.next_update_utc,
            revoked=frozenset(r.serial_number for r in crl),
        )


# The extensions OpenSSL 3.0 understands (X509_supported_extension); any other one marked
# critical makes it refuse the certificate ("unhandled critical extension").
HANDLED_EXTENSIONS = frozenset((
    "2.16.840.1.113730.1.1", "2.5.29.15", "2.5.29.17", "2.5.29.19", "2.5.29.32", "2.5.29.31",
    "2.5.29.37", "1.3.6.1.5.5.7.1.7", "1.3.6.1.5.5.7.1.8", "1.3.6.1.5.5.7.48.1.5",
    "2.5.29.36", "1.3.6.1.5.5.7.1.14", "2.5.29.30", "2.5.29.33", "2.5.29.54"))
# Security bits of a signature's hash (X509_get_signature_info; SHA-1 counts 63, MD5 39).
HASH_BITS = {"md5": 39, "sha1": 63, "sha224": 112, "sha256": 128, "sha384": 192,
             "sha512": 256, "sha3-224": 112, "sha3-256": 128, "sha3-384": 192,
             "sha3-512": 256}


def _cert_info(der: bytes) -> CertInfo:
    from cryptography import x509  # heavy: imported only when a CA file is read
    from cryptography.hazmat.primitives import hashes

    with warnings.catch_warnings():
        # Old CA files with negative serials still load in nginx; do not nag about RFC 5280.
        warnings.simplefilter("ignore")
        cert = x509.load_der_x509_certificate(der)
        self_signed = cert.issuer == cert.subject
        try:
            extensions = list(cert.extensions)
        except ValueError:  # an extension cryptography cannot decode
            extensions = None
        found = {e.oid.dotted_string: e for e in extensions or ()}
        constraints = found.get("2.5.29.19")
        is_ca = (constraints.value.ca if constraints is not None
                 else self_signed and extensions is not None)
        try:
            signature_hash = cert.signature_hash_algorithm
        except Exception:  # an algorithm cryptography does not know
            signature_hash = None
        return CertInfo(
            sha256=cert.fingerprint(hashes.SHA256()).hex().upper(),
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            is_ca=is_ca,
            serial=cert.serial_number,
            ca_flaw=_ca_flaw(found, cert.version == x509.Version.v1) if is_ca else None,
            path_len=constraints.value.path_length if constraints is not None else None,
            key_bits=_key_bits(cert),
            signature_bits=HASH_BITS.get(signature_hash.name, 256) if signature_hash else 128,
            client_usable=_client_usable(found),
            key_sha256=_key_sha256(cert),
            key_id="2.5.29.14" in found,
        )


def _key_sha256(cert: "Certificate") -> str:
    from cryptography.hazmat.primitives import hashes, serialization

    try:
        spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
    except Exception:  # an algorithm cryptography does not know: tell the certificate apart
        return str(cert.fingerprint(hashes.SHA256()).hex())
    digest = hashes.Hash(hashes.SHA256())
    digest.update(spki)
    return digest.finalize().hex()


def _client_usable(found: dict[str, Any]) -> bool:
    from cryptography.x509.oid import ExtendedKeyUsageOID

    eku, usage = found.get("2.5.29.37"), found.get("2.5.29.15")
    return ((eku is None or ExtendedKeyUsageOID.CLIENT_AUTH in eku.value)
            and (usage is None or usage.value.digital_signature or usage.value.key_agreement))


def _ca_flaw(found: dict[str, Any], v1: bool) -> tuple[str, str] | None:
    """Why OpenSSL 3.0 refuses a certificate as the CA of an SSL client (check_ca,
    check_purpose_ssl_client, the critical-extension check), as nginx logs it."""
    from cryptography.x509.oid import ExtendedKeyUsageOID

    unhandled = sorted(oid for oid, e in found.items()
                       if e.critical and oid not in HANDLED_EXTENSIONS)
    if unhandled:
        return (f"it has a critical extension OpenSSL does not handle ({unhandled[0]})",
                "34:unhandled critical extension")
    usage = found.get("2.5.29.15")
    if usage is not None and not usage.value.key_cert_sign:
        return ("its keyUsage does not include keyCertSign", "32:key usage does not include "
                "certificate signing")
    if "2.5.29.19" not in found and usage is None and not v1:
        return ("it is a v3 certificate without basicConstraints CA:TRUE",
                "26:unsuitable certificate purpose")
    eku = found.get("2.5.29.37")
    if eku is not None and ExtendedKeyUsageOID.CLIENT_AUTH not in eku.value:
        return ("its extendedKeyUsage does not include clientAuth (anyExtendedKeyUsage does "
                "not count)", "26:unsuitable certificate purpose")
    return None


def _key_bits(cert: "Certificate") -> int:
    """Security bits of the public key, as EVP_PKEY_get_security_bits counts them."""
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

    try:
        key = cert.public_key()
    except Exception:  # an algorithm cryptography does not know: do not judge it
        return 256
    if isinstance(key, (rsa.RSAPublicKey, dsa.DSAPublicKey)):
        size = key.key_size
        return next((bits for floor, bits in ((15360, 256), (7680, 192), (3072, 128),
                                              (2048, 112), (1024, 80)) if size >= floor), 0)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.curve.key_size // 2
    if isinstance(key, ed25519.Ed25519PublicKey):
        return 128
    if isinstance(key, ed448.Ed448PublicKey):
        return 224
    return 256


class CAStore:
    """Parses each CA file once per run, keyed by its real path."""

    def __init__(self) -> None:
        self._by_real: dict[str, CAFile] = {}
        self._by_path: dict[str, CAFile] = {}  # saves a realpath() per lookup

    def not_here(self, path: str) -> CAFile:
        """The stand-in for a file the checkout does not have (one per path)."""
        found = self._by_path.get("\0" + path)
        if found is None:
            found = self._by_path["\0" + path] = CAFile(
                path, missing=True, problem="is not available here", unavailable=True)
        return found

    def inspect(self, path: str) -> CAFile:
        found = self._by_path.get(path)
        if found is None:
            key = os.path.realpath(path)
            if key not in self._by_real:
                self._by_real[key] = _inspect(path)
            found = self._by_path[path] = self._by_real[key]
        return found
