"""One request, end to end, as the client controls it.

The same record is what the differential harness sends to a real nginx, what the analysis is
asked about (`trace`, `compare`) and what `probe --from-config` sends to a running origin, so
that a prediction and an observation always speak of the same request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

# Who holds which certificate, in the flow's vocabulary (flow.Client.kind).
CERTIFICATES = ("none", "self-signed", "self-signed-trusted-dn", "other-ca", "valid")
# Where the TCP connection comes from: a direct client, a Cloudflare edge, this host.
SOURCES = ("direct", "cloudflare", "loopback")
# Methods a probe may send to someone else's origin: none changes state, none has a body.
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True, slots=True)
class Request:
    """What a client chooses: the TCP source and the bytes before TLS, the handshake (SNI,
    certificate, resumption), the protocol, and the HTTP request itself."""

    source: str = "direct"  # one of SOURCES, or a literal address
    before_tls: bytes = b""  # e.g. a PROXY protocol header
    tls: bool = True
    sni: str | None = None  # None: no server_name extension at all
    certificate: str = "none"  # one of CERTIFICATES
    # Resume a TLS 1.3 session first made with this SNI ("" = a session made without SNI);
    # None: a full handshake.
    resume_from: str | None = None
    protocol: str = "http/1.1"  # http/1.1 | h2
    method: str = "GET"
    target: str = "/"  # the request line's target, raw as sent
    host: str | None = None  # the Host header as sent; None: the SNI, else no Host header
    headers: tuple[tuple[str, str], ...] = ()
    # a header line without a colon after the others: nginx answers 400 while reading the
    # headers, before any certificate check, with the server's error pages
    malformed: bool = False

    def __post_init__(self) -> None:
        if self.certificate not in CERTIFICATES:
            raise ValueError(f"unknown certificate kind {self.certificate!r}")
        if not self.tls and (self.sni is not None or self.certificate != "none"
                             or self.resume_from is not None):
            raise ValueError("a plain-HTTP request has no SNI, certificate or session")

    @property
    def client_kind(self) -> str:
        """The flow's name for this client (flow.Client.kind)."""
        if self.malformed:
            return "malformed"
        if not self.tls:
            return "plain"
        return {"none": "none", "self-signed": "failed", "self-signed-trusted-dn": "failed",
                "other-ca": "other-ca", "valid": "valid"}[self.certificate]

    @property
    def host_header(self) -> str | None:
        return self.host if self.host is not None else self.sni

    @property
    def authority(self) -> str | None:
        """The name nginx chooses the server by: an absolute URI's host in the request line
        (ngx_http_process_request_uri), else the Host header."""
        match = re.match(r"https?://([^/:]+)", self.target, re.I)
        return match.group(1).lower() if match else self.host_header

    @property
    def path(self) -> str:
        """The request target's path (an absolute URI's part from its first slash)."""
        match = re.match(r"https?://[^/]*", self.target, re.I)
        return (self.target[match.end():] or "/") if match else self.target

    @property
    def safe(self) -> bool:
        """May be sent to a live origin: a method that changes nothing, no body."""
        return self.method in SAFE_METHODS

    def with_(self, **changes: object) -> "Request":
        return replace(self, **changes)  # type: ignore[arg-type]

    def describe(self) -> str:
        """One line an administrator reads: `GET /admin/ Host: a.example, SNI a.example,
        no certificate, direct`."""
        parts = [f"{self.method} {self.target}"]
        if self.host_header is not None:
            parts.append(f"Host: {self.host_header}")
        if not self.tls:
            parts.append("plain HTTP")
        else:
            parts.append("no SNI" if self.sni is None else f"SNI {self.sni}")
            parts.append({"none": "no certificate", "self-signed": "a self-signed certificate",
                          "self-signed-trusted-dn":
                              "a self-signed certificate with the trusted CA's name",
                          "other-ca": "another CA's certificate",
                          "valid": "the valid certificate"}[self.certificate])
            if self.resume_from is not None:
                parts.append("resuming a session made "
                             + (f"for {self.resume_from}" if self.resume_from else "without SNI"))
        if self.protocol != "http/1.1":
            parts.append(self.protocol)
        parts.extend(f"{name}: {value}" for name, value in self.headers)
        if self.malformed:
            parts.append("a header line without a colon")
        parts.append(self.source if self.source in SOURCES else f"from {self.source}")
        return ", ".join(parts)
