"""`probe`: connect to an origin directly, the way an attacker who found its address would.

It only connects to the address it is given. Each case is one TLS (or plain) connection and
one HTTP/1.1 request (the resumption cases: two connections, the second resuming the TLS 1.3
session of the first); the verdict is "rejected" (an HTTP refusal or a TLS alert from the
server), "closed" (a TLS server closed the connection without a response, nginx's 444),
"redirected", "CONTENT SERVED", or "unreachable" (refused, timed out, reset, not TLS, not
HTTP): an origin the probe could not reach proved nothing. Every wait has a timeout, every
case a limit and the whole run a deadline (wire.py).

Exit codes of the command: 1 some client got content; 2 no case reached the origin; 0
otherwise (unreachable cases are listed as such).
"""

from __future__ import annotations

import re
import select
import ssl
import tempfile
import time
from dataclasses import asdict, dataclass, field

from . import wire
from .wire import _read, ascii_name, name_problem  # noqa: F401  (_read: the flow labels' harness)

UNKNOWN_SNI = "nginx-mtls-lint-probe.invalid"
DEFAULT_DEADLINE = 60.0
# Subject of Cloudflare's origin-pull CA (the global Authenticated Origin Pulls certificate).
CLOUDFLARE_AOP_CN = "origin-pull.cloudflare.net"


@dataclass(slots=True)
class Case:
    name: str
    sni: str | None
    certificate: str = "none"  # none | self-signed | given
    plain: bool = False
    malformed: bool = False
    host_header: str | None = None  # default: the probed name
    # Resume a TLS 1.3 session first made with this SNI ("" = no SNI); None: no resumption.
    session_from: str | None = None


@dataclass(slots=True)
class Outcome:
    case: str
    verdict: str  # rejected | closed | redirected | CONTENT SERVED | unreachable
    status: int | None
    detail: str
    server_certificate: str | None = None  # subject of the certificate the origin showed


@dataclass(slots=True)
class Target:
    host: str
    port: int
    name: str
    path: str = "/"
    client_cert: str | None = None
    client_key: str | None = None
    plain_port: int | None = None
    other_name: str | None = None
    content_marker: str | None = None
    timeout: float = 5.0  # the longest single wait (connect, handshake step, read)
    cases: list[Case] = field(default_factory=list)
    deadline: float = DEFAULT_DEADLINE  # the whole run, in seconds
    ends_at: float = 0.0  # time.monotonic() when the run must end (set by probe())

    def case_limit(self) -> float:
        """One connection: twice the timeout (connect, then handshake and answer), never past
        the run's end."""
        left = self.ends_at - time.monotonic() if self.ends_at else self.deadline
        return max(min(2 * self.timeout, left), 0.0)


def parse_address(text: str) -> tuple[str, int]:
    match = re.fullmatch(r"\[([0-9a-fA-F:.]+)\]:(\d+)|([^:\[\]]+):(\d+)", text)
    if not match:
        raise ValueError(f"expected HOST:PORT or [IPv6]:PORT, got {text!r}")
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4))
    if not 0 < port < 65536:
        raise ValueError(f"port out of range in {text!r}")
    return host, port


def default_cases(target: Target) -> list[Case]:
    cases = [
        Case("SNI, no certificate", target.name),
        Case("no SNI, no certificate", None),
        Case("unknown SNI, no certificate", UNKNOWN_SNI),
        Case("SNI, self-signed certificate", target.name, certificate="self-signed"),
        Case("SNI, malformed request (400 before the certificate check)", target.name,
             malformed=True),
        Case("plain HTTP", None, plain=True),
    ]
    if target.other_name:
        cases.insert(3, Case(f"SNI {target.other_name}, Host {target.name}", target.other_name))
    if target.client_cert:
        cases += [Case("SNI, given certificate", target.name, certificate="given"),
                  Case("no SNI, given certificate", None, certificate="given"),
                  Case("unknown SNI, given certificate", UNKNOWN_SNI, certificate="given")]
    if target.client_cert and target.other_name:
        cases += [Case(f"TLS 1.3 session of SNI {target.other_name} resumed with SNI, given "
                       "certificate", target.name, certificate="given",
                       session_from=target.other_name),
                  Case("TLS 1.3 session without SNI resumed with SNI, given certificate",
                       target.name, certificate="given", session_from="")]
    return cases


def _request(target: Target, case: Case) -> bytes:
    host = case.host_header or target.name
    if case.malformed:
        return (f"GET {target.path} HTTP/1.1\r\nHost: {host}\r\nthis header has no colon\r\n"
                "Connection: close\r\n\r\n").encode()
    return (f"GET {target.path} HTTP/1.1\r\nHost: {host}\r\n"
            "User-Agent: nginx-mtls-lint-probe\r\nConnection: close\r\n\r\n").encode()


def _verdict(target: Target, case: Case, reply: wire.Reply) -> Outcome:
    if reply.kind == "unreachable":
        return Outcome(case.name, "unreachable", None, reply.detail)
    if reply.kind in ("alert", "closed"):
        return Outcome(case.name, "rejected" if reply.kind == "alert" else "closed", None,
                       reply.detail, reply.certificate)
    status, body, certificate = reply.status, reply.body, reply.certificate
    marker = target.content_marker
    if marker is not None and marker.encode() in body:
        return Outcome(case.name, "CONTENT SERVED", status,
                       f"the body holds {marker!r}", certificate)
    if marker is None and status is not None and 200 <= status < 300:
        return Outcome(case.name, "CONTENT SERVED", status, "2xx response", certificate)
    if status is not None and 300 <= status < 400:
        location = re.search(rb"\r\nLocation: ([^\r\n]*)", reply.head, re.IGNORECASE)
        where = location.group(1).decode(errors="replace") if location else "?"
        return Outcome(case.name, "redirected", status, f"to {where}", certificate)
    return Outcome(case.name, "rejected", status, f"HTTP {status}", certificate)


def _context(case: Case, target: Target, self_signed: tuple[str, str]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if case.session_from is not None:
        context.minimum_version = ssl.TLSVersion.TLSv1_3
    if case.certificate == "self-signed":
        context.load_cert_chain(*self_signed)
    elif case.certificate == "given" and target.client_cert:
        context.load_cert_chain(target.client_cert, target.client_key)
    return context


def _exchange(target: Target, case: Case, port: int, context: ssl.SSLContext | None,
              session: ssl.SSLSession | None = None, sni: str | None = None) -> wire.Reply:
    return wire.exchange(target.host, port, _request(target, case), target.timeout,
                         target.case_limit(), context, sni, session)


def _session(target: Target, case: Case, context: ssl.SSLContext) -> ssl.SSLSession | Outcome:
    """A TLS 1.3 session made with SNI `case.session_from` (a full request, so that the
    server's session tickets arrive)."""
    first = Case(case.name, case.session_from or None, case.certificate,
                 host_header=case.session_from or target.name)
    reply = _exchange(target, first, target.port, context, sni=first.sni)
    if reply.kind in ("unreachable", "alert"):
        failed = _verdict(target, case, reply)
        failed.detail = "could not make the session to resume: " + failed.detail
        return failed
    session = reply.session
    if session is None or not session.has_ticket and not session.id:
        return Outcome(case.name, "rejected", None, "the server issued no resumable session",
                       reply.certificate)
    return session


def run_case(target: Target, case: Case, self_signed: tuple[str, str]) -> Outcome:
    if target.ends_at and time.monotonic() >= target.ends_at:
        return Outcome(case.name, "unreachable", None,
                       f"not tried: the run's deadline ({target.deadline:g} s) was spent")
    port = target.plain_port if case.plain and target.plain_port else target.port
    if case.plain:
        return _verdict(target, case, _exchange(target, case, port, None))
    context = _context(case, target, self_signed)
    session = None
    if case.session_from is not None:
        made = _session(target, case, context)
        if isinstance(made, Outcome):
            return made
        session = made
    reply = _exchange(target, case, port, context, session, case.sni)
    outcome = _verdict(target, case, reply)
    if session is not None and reply.kind in ("http", "closed"):
        outcome.detail += "; session resumed" if reply.resumed else \
            "; not resumed (full handshake)"
    return outcome


def client_ca_names(target: Target) -> list[str] | None:
    """The CA names the origin asks client certificates from (TLS CertificateRequest), for
    SNI --name; None when pyOpenSSL is missing or the origin cannot be reached."""
    try:
        from OpenSSL import SSL
    except ImportError:
        return None
    if target.ends_at and time.monotonic() >= target.ends_at:
        return None
    raw = wire.connect(target.host, target.port, target.timeout)
    if isinstance(raw, wire.Reply):
        return None
    with raw:
        context = SSL.Context(SSL.TLS_CLIENT_METHOD)
        conn = SSL.Connection(context, raw)
        conn.set_tlsext_host_name(target.name.encode("idna"))
        conn.set_connect_state()
        deadline = time.monotonic() + target.timeout
        try:
            while True:  # the socket has a timeout, so OpenSSL sees it as non-blocking
                try:
                    conn.do_handshake()
                    break
                except SSL.WantReadError:
                    left = deadline - time.monotonic()
                    if left <= 0 or not select.select([raw], [], [], left)[0]:
                        return None
            names = conn.get_client_ca_list()
        except (SSL.Error, OSError):
            return None
        finally:
            try:
                conn.shutdown()
            except (SSL.Error, OSError):
                pass
    # RFC 4514 order and escaping, as nginx's $ssl_client_i_dn shows names
    return [",".join(f"{k.decode()}=" + re.sub(r'([,+"\\<>;=])', r"\\\1",
                                                v.decode(errors="replace"))
                     for k, v in reversed(name.get_components())) for name in names]


def asks_cloudflare(names: list[str] | None) -> bool | None:
    if names is None:
        return None
    return any(f"CN={CLOUDFLARE_AOP_CN}" in name for name in names)


def probe(target: Target) -> list[Outcome]:
    cases = target.cases or default_cases(target)
    target.ends_at = time.monotonic() + target.deadline
    with tempfile.TemporaryDirectory(prefix="nginx-mtls-lint-probe-") as scratch:
        self_signed = wire.self_signed(scratch, target.name)
        return [run_case(target, case, self_signed) for case in cases]


def unreachable(outcomes: list[Outcome]) -> list[Outcome]:
    return [o for o in outcomes if o.verdict == "unreachable"]


def exit_code(outcomes: list[Outcome]) -> int:
    """1: some client got content; 2: no case reached the origin (or no case at all); 0:
    otherwise."""
    if bypassed(outcomes):
        return 1
    return 2 if len(unreachable(outcomes)) == len(outcomes) else 0


def bypassed(outcomes: list[Outcome]) -> bool:
    """Content reached a client the origin should refuse. (`--client-cert` names a
    certificate that must not get in, such as one from another server's CA.)"""
    return any(o.verdict == "CONTENT SERVED" for o in outcomes)


def as_dicts(outcomes: list[Outcome]) -> list[dict]:
    return [asdict(o) for o in outcomes]
