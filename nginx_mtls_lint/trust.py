"""What one server's client CA files let OpenSSL verify: the trust set.

nginx loads every certificate of `ssl_client_certificate` and `ssl_trusted_certificate` into
one X509 store (SSL_CTX_load_verify_locations) and does not set X509_V_FLAG_PARTIAL_CHAIN: a
client chain verifies only when it ends in a self-signed CA of the store. OpenSSL looks in the
store first (trusted-first), so an intermediate kept in the store whose issuer is missing
refuses its clients even when they send that issuer. `ssl_verify_depth d` (default 1) allows d
intermediates between the client certificate and the root. `ssl_crl` sets
X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL: every certificate of the chain needs a
current CRL from its issuer.

OpenSSL also refuses a CA of the chain (purpose "ssl_client") that is no CA for it (no
basicConstraints CA:TRUE on a v3 certificate, keyUsage without keyCertSign, an
extendedKeyUsage without clientAuth, an unhandled critical extension), whose key or signature
hash is too weak for the security level (2 on Debian 12, `ssl_ciphers ...:@SECLEVEL=n`
changes it; a self-signed root's own signature is not checked), or whose chain breaks a
pathLenConstraint above it. Such a CA anchors nothing: its clients are refused.

A TrustSet is built once per distinct tuple of CA files and shared by every rule.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterable

from .cafile import CAFile, CertInfo, CRLInfo


# Minimum security bits of keys and signature hashes per OpenSSL security level 1..5.
LEVEL_BITS = (80, 112, 128, 192, 256)
DEFAULT_SECURITY_LEVEL = 2  # Debian 12's OpenSSL 3.0 default
SECLEVEL = re.compile(r"@SECLEVEL=(\d)")


def security_level(ciphers: str | None) -> int:
    """The OpenSSL security level an `ssl_ciphers` value leaves in effect."""
    found = SECLEVEL.findall(ciphers or "")
    return int(found[-1]) if found else DEFAULT_SECURITY_LEVEL


def min_bits(level: int) -> int:
    """The security bits a key or signature hash needs at this security level."""
    return LEVEL_BITS[min(level, len(LEVEL_BITS)) - 1] if level > 0 else 0


def refusal(cert: CertInfo, level: int) -> tuple[str, str] | None:
    """Why OpenSSL refuses `cert` as the CA of a client chain, whatever sits above it:
    (the reason, the verify error nginx logs)."""
    if cert.ca_flaw is not None:
        return cert.ca_flaw
    need = min_bits(level)
    if cert.key_bits < need:
        return (f"its key has {cert.key_bits} bits of security, fewer than the {need} of "
                f"OpenSSL security level {level} (at level 2: RSA under 2048 bits, EC under "
                "224)", "67:CA certificate key too weak")
    if not cert.self_signed and cert.signature_bits < need:
        return (f"it is signed with a hash too weak for OpenSSL security level {level} "
                "(SHA-1 or MD5)", "68:CA signature digest algorithm too weak")
    return None


@dataclass(frozen=True, slots=True)
class CrlVerdict:
    """How the CRLs in effect judge one CA of the expected chains."""

    ca: CertInfo
    current: bool  # a CRL from this CA is valid now
    expired: CRLInfo | None = None  # the newest expired one, when none is current
    not_yet_valid: CRLInfo | None = None
    expiring: CRLInfo | None = None  # the current one, when it expires soon
    revoked: bool = False  # a CRL of this CA's issuer revokes it


class TrustSet:
    """The CA certificates of a server's X509 store and the chains they make."""

    def __init__(self, sources: tuple[tuple[str, CAFile], ...],
                 level: int = DEFAULT_SECURITY_LEVEL):
        self.sources = sources
        by_fp: dict[str, CertInfo] = {}
        self.directive_of: dict[str, str] = {}
        for directive, ca in sources:
            for cert in ca.certs:
                if cert.is_ca and cert.sha256 not in by_fp:
                    by_fp[cert.sha256] = cert
                    self.directive_of[cert.sha256] = directive
        self.certs: list[CertInfo] = list(by_fp.values())
        self.by_subject: dict[str, list[CertInfo]] = {}
        self.children: dict[str, list[CertInfo]] = {}  # issuer name -> CAs it issued
        for cert in self.certs:
            self.by_subject.setdefault(cert.subject, []).append(cert)
            if not cert.self_signed:
                self.children.setdefault(cert.issuer, []).append(cert)
        self.roots = [c for c in self.certs if c.self_signed]
        # The CAs OpenSSL refuses as the issuer of a client: (reason, verify error).
        self.refused: dict[str, tuple[str, str]] = {
            c.sha256: why for c in self.certs if (why := refusal(c, level)) is not None}
        # Intermediates between each anchored CA name and its root (0 for a root), shortest;
        # how many more intermediates its pathLenConstraints allow below it, and whose.
        self.level: dict[str, int] = {}
        room: dict[str, tuple[float, str]] = {}
        anchored: set[str] = set()
        queue: deque[str] = deque()
        for root in self.roots:
            if root.sha256 not in self.refused:
                anchored.add(root.sha256)
                if root.subject not in self.level:
                    self.level[root.subject] = 0
                    room[root.subject] = _room(root, (math.inf, ""))
                    queue.append(root.subject)
        while queue:
            name = queue.popleft()
            for child in self.children.get(name, ()):
                if child.sha256 in self.refused:
                    continue
                if room[name][0] < 1:
                    self.refused[child.sha256] = (
                        f"the pathLenConstraint of {room[name][1]} allows fewer "
                        "intermediates below it than this chain holds",
                        "25:path length constraint exceeded")
                    continue
                anchored.add(child.sha256)
                if child.subject not in self.level:
                    self.level[child.subject] = self.level[name] + 1
                    room[child.subject] = _room(child, (room[name][0] - 1, room[name][1]))
                    queue.append(child.subject)
        # A certificate is anchored when it is a root or its issuer is anchored (a cross-signed
        # copy of a root whose other issuer is missing is not).
        self.anchored = frozenset(anchored)
        # Self-signed certificates that anchor nothing but that OpenSSL accepts as the client
        # certificate itself when a client presents exactly one of them (a pinned client).
        need = min_bits(level)
        self.pinned = frozenset(
            c.sha256 for _, ca in sources for c in ca.certs
            if c.self_signed and c.client_usable and c.key_bits >= need
            and c.sha256 not in anchored)
        unreadable = {"file:" + os.path.realpath(ca.path) for _, ca in sources if not ca.certs}
        # What verifies clients, for comparing servers: the anchored CAs, the pinned client
        # certificates, and a file's real path where it cannot be read.
        self.admits: frozenset[str] = self.anchored | self.pinned | frozenset(unreadable)
        self._hierarchies: dict[frozenset[str], frozenset[str]] = {}

    @property
    def readable(self) -> bool:
        return all(ca.problem is None for _, ca in self.sources)

    def hierarchy(self, seeds: Iterable[str]) -> frozenset[str]:
        """The fingerprints on the chains of clients issued by the seed CAs or below them:
        the seeds, the CAs they chain up to and the CAs they issued, transitively."""
        key = frozenset(seeds)
        if key not in self._hierarchies:
            starts = [c for c in self.certs if c.sha256 in key]
            above = self._names({c.issuer for c in starts if not c.self_signed},
                                lambda name: [c.issuer for c in self.by_subject.get(name, ())
                                              if not c.self_signed])
            below = self._names({c.subject for c in starts},
                                lambda name: [c.subject for c in self.children.get(name, ())])
            self._hierarchies[key] = frozenset(
                c.sha256 for name in above | below for c in self.by_subject.get(name, ()))
        return self._hierarchies[key]

    @staticmethod
    def _names(start: set[str], step: Callable[[str], Iterable[str]]) -> set[str]:
        """Every CA name reachable from `start` by `step` (issuers up, or subjects down)."""
        seen: set[str] = set()
        pending = deque(start)
        while pending:
            name = pending.popleft()
            if name not in seen:
                seen.add(name)
                pending.extend(step(name))
        return seen

    def shadowed(self, now: dt.datetime) -> dict[str, CertInfo]:
        """The CAs OpenSSL never reaches as an issuer: an earlier valid CA of the same name
        with another key and no subjectKeyIdentifier comes first in the store (the lookup
        takes the first valid certificate of the name whose key identifier does not differ
        from the client's authority key identifier), so the signature check fails.
        Fingerprint -> the CA taken instead."""
        found: dict[str, CertInfo] = {}
        for same in self.by_subject.values():
            valid = [c for c in same if c.not_before <= now <= c.not_after]
            for index, cert in enumerate(valid):
                first = next((c for c in valid[:index]
                              if not c.key_id and c.key_sha256 != cert.key_sha256), None)
                if first is not None:
                    found[cert.sha256] = first
        return found

    def members(self, fingerprints: frozenset[str]) -> list[CertInfo]:
        return [c for c in self.certs if c.sha256 in fingerprints]

    def lacking_issuer(self, fingerprints: frozenset[str]) -> list[CertInfo]:
        """Among `fingerprints`, the CAs whose issuer is not in the store: each ends a chain
        that reaches no root, so the clients below it are refused."""
        return [c for c in self.members(fingerprints)
                if c.sha256 not in self.anchored and c.sha256 not in self.refused
                and c.issuer not in self.by_subject and c.subject not in self.level
                and not c.self_signed]

    def deepest(self, fingerprints: frozenset[str]) -> CertInfo | None:
        """The anchored CA of `fingerprints` with the most intermediates above it."""
        anchored = [c for c in self.members(fingerprints) if c.sha256 in self.anchored]
        return max(anchored, key=lambda c: self.level[c.subject], default=None)

    def chain_names(self, cert: CertInfo) -> list[str]:
        """Subjects from `cert` up to its root (shortest path), for messages."""
        names = [cert.subject]
        while cert.sha256 in self.anchored and not cert.self_signed:
            cert = min(self.by_subject[cert.issuer], key=lambda c: c.sha256 not in self.anchored)
            names.append(cert.subject)
        return names

    def crl_verdicts(self, fingerprints: frozenset[str], crls: list[CRLInfo],
                     now: dt.datetime, warn_before: dt.timedelta) -> list[CrlVerdict]:
        """For each anchored CA of `fingerprints` (as an issuer on a client chain): whether a
        current CRL from it is in effect, and whether its issuer's CRL revokes it."""
        by_issuer: dict[str, list[CRLInfo]] = {}
        for crl in crls:
            by_issuer.setdefault(crl.issuer, []).append(crl)
        verdicts = []
        seen: set[str] = set()
        for cert in self.members(fingerprints):
            if cert.sha256 not in self.anchored or cert.sha256 in seen:
                continue
            seen.add(cert.sha256)
            own = by_issuer.get(cert.subject, [])
            current = [c for c in own if c.last_update <= now
                       and (c.next_update is None or now <= c.next_update)]
            expired = [c for c in own if c.next_update is not None and c.next_update < now]
            future = [c for c in own if c.last_update > now]
            latest = max(current, key=_expiry, default=None)
            revoked = not cert.self_signed and any(
                cert.serial in crl.revoked for crl in by_issuer.get(cert.issuer, ()))
            verdicts.append(CrlVerdict(
                cert, bool(current),
                expired=max(expired, key=_expiry, default=None) if not current else None,
                not_yet_valid=future[0] if future and not current else None,
                expiring=latest if latest is not None and latest.next_update is not None
                and latest.next_update - now < warn_before else None,
                revoked=revoked))
        return verdicts


def _room(cert: CertInfo, above: tuple[float, str]) -> tuple[float, str]:
    """The intermediates allowed below `cert`: its own pathLenConstraint or what the CAs above
    leave (one fewer than for its issuer), the smaller, with the CA that sets it."""
    if cert.path_len is not None and cert.path_len < above[0]:
        return cert.path_len, cert.subject or "(empty subject)"
    return above


def _expiry(crl: CRLInfo) -> dt.datetime:
    return crl.next_update or dt.datetime.max.replace(tzinfo=dt.timezone.utc)
