"""Inspect CA files (ssl_client_certificate, ssl_trusted_certificate) once per run."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import os
import re
import warnings
from dataclasses import dataclass, field

from .loader import read_limited

# A CA bundle is a few hundred KiB at most (the whole Mozilla store is ~220 KiB).
MAX_CA_BYTES = 4 * 1024 * 1024
PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)\s*-----END \1-----", re.DOTALL)
CERT_LABELS = {b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE"}


@dataclass(frozen=True, slots=True)
class CertInfo:
    sha256: str  # upper-case hex, no colons
    subject: str
    issuer: str
    not_before: dt.datetime
    not_after: dt.datetime
    is_ca: bool  # basicConstraints CA:TRUE, or a self-signed v1 certificate

    @property
    def self_signed(self) -> bool:
        return self.subject == self.issuer


@dataclass(slots=True)
class CAFile:
    path: str  # the file read (after --path-map)
    missing: bool = False
    problem: str | None = None  # why it is unusable, when it is
    certs: list[CertInfo] = field(default_factory=list)
    has_private_key: bool = False
    bad_blocks: int = 0
    fingerprints: frozenset[str] = frozenset()  # of `certs`, filled once when read


def _inspect(path: str) -> CAFile:
    data, missing, problem = read_limited(path, MAX_CA_BYTES)
    info = CAFile(path, missing=missing, problem=problem)
    if data is None:
        if missing:
            info.problem = "does not exist"
        return info
    blocks = PEM_BLOCK.findall(data)
    info.has_private_key = any(b"PRIVATE KEY" in label for label, _ in blocks)
    for label, body in blocks:
        if label not in CERT_LABELS:
            continue
        try:
            der = base64.b64decode(b"".join(body.split()), validate=True)
            info.certs.append(_cert_info(der))
        except (ValueError, binascii.Error):
            info.bad_blocks += 1
    info.fingerprints = frozenset(c.sha256 for c in info.certs)
    if not data.strip():
        info.problem = "is empty"
    elif not blocks:
        info.problem = "is not PEM (no -----BEGIN CERTIFICATE----- block)"
    elif not info.certs:
        info.problem = "holds no readable certificate"
    elif not any(c.is_ca for c in info.certs):
        info.problem = "holds no CA certificate (only end-entity certificates)"
    return info


def _cert_info(der: bytes) -> CertInfo:
    from cryptography import x509  # heavy: imported only when a CA file is read
    from cryptography.hazmat.primitives import hashes

    with warnings.catch_warnings():
        # Old CA files with negative serials still load in nginx; do not nag about RFC 5280.
        warnings.simplefilter("ignore")
        cert = x509.load_der_x509_certificate(der)
        try:
            is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = cert.issuer == cert.subject  # v1 roots carry no extensions
        except ValueError:
            is_ca = False
        return CertInfo(
            sha256=cert.fingerprint(hashes.SHA256()).hex().upper(),
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            is_ca=is_ca,
        )


class CAStore:
    """Parses each CA file once per run, keyed by its real path."""

    def __init__(self) -> None:
        self._by_real: dict[str, CAFile] = {}
        self._by_path: dict[str, CAFile] = {}  # saves a realpath() per lookup

    def inspect(self, path: str) -> CAFile:
        found = self._by_path.get(path)
        if found is None:
            key = os.path.realpath(path)
            if key not in self._by_real:
                self._by_real[key] = _inspect(path)
            found = self._by_path[path] = self._by_real[key]
        return found
