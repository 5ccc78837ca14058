"""`probe`: connect to an origin directly, the way an attacker who found its address would.

It only connects to the address it is given. Each case is one TLS (or plain) connection and
one HTTP/1.1 request (the resumption cases: two connections, the second resuming the TLS 1.3
session of the first); the verdict is "rejected" (an HTTP refusal or a TLS alert from the
server), "redirected", "CONTENT SERVED", or "unreachable" (refused, timed out, no route, or not
TLS): an origin the probe could not reach proved nothing.

Exit codes of the command: 1 some client got content; 2 no case reached the origin; 0
otherwise (unreachable cases are listed as such).
"""

from __future__ import annotations

import os
import re
import select
import socket
import ssl
import tempfile
import time
from dataclasses import asdict, dataclass, field

UNKNOWN_SNI = "nginx-mtls-lint-probe.invalid"
MAX_RESPONSE = 256 * 1024
STATUS = re.compile(rb"^HTTP/\d(?:\.\d)? (\d{3})")
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
    verdict: str  # rejected | redirected | CONTENT SERVED | unreachable
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
    timeout: float = 5.0
    cases: list[Case] = field(default_factory=list)


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


def _self_signed(folder: str, name: str) -> tuple[str, str]:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    cert_path, key_path = os.path.join(folder, "self.pem"), os.path.join(folder, "self.key")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_path, key_path


def _request(target: Target, case: Case) -> bytes:
    host = case.host_header or target.name
    if case.malformed:
        return (f"GET {target.path} HTTP/1.1\r\nHost: {host}\r\nthis header has no colon\r\n"
                "Connection: close\r\n\r\n").encode()
    return (f"GET {target.path} HTTP/1.1\r\nHost: {host}\r\n"
            "User-Agent: nginx-mtls-lint-probe\r\nConnection: close\r\n\r\n").encode()


def _read(conn) -> bytes:
    data = b""
    while len(data) < MAX_RESPONSE:
        try:
            chunk = conn.recv(65536)
        except (ssl.SSLError, ConnectionError, socket.timeout):
            break
        if not chunk:
            break
        data += chunk
    return data


def _verdict(target: Target, case: Case, data: bytes, certificate: str | None) -> Outcome:
    match = STATUS.match(data)
    if not match:
        detail = "connection closed without a response" if not data else "no HTTP response"
        return Outcome(case.name, "rejected", None, detail, certificate)
    status = int(match.group(1))
    body = data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""
    marker = target.content_marker
    if marker is not None and marker.encode() in body:
        return Outcome(case.name, "CONTENT SERVED", status,
                       f"the body holds {marker!r}", certificate)
    if marker is None and 200 <= status < 300:
        return Outcome(case.name, "CONTENT SERVED", status, "2xx response", certificate)
    if 300 <= status < 400:
        location = re.search(rb"\r\nLocation: ([^\r\n]*)", data, re.IGNORECASE)
        where = location.group(1).decode(errors="replace") if location else "?"
        return Outcome(case.name, "redirected", status, f"to {where}", certificate)
    return Outcome(case.name, "rejected", status, f"HTTP {status}", certificate)


def _certificate_subject(conn: ssl.SSLSocket) -> str | None:
    der = conn.getpeercert(binary_form=True)
    if not der:
        return None
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    try:
        names = cert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    return cert.subject.rfc4514_string() + (f" (DNS: {', '.join(names)})" if names else "")


def _handshake_failure(case: Case, error: Exception) -> Outcome:
    """A TLS alert from the server is a rejection; anything else (reset, EOF, a reply that is
    not TLS, a timeout) means the probe did not reach a TLS server it could judge."""
    reason = getattr(error, "reason", None) or str(error)
    if isinstance(error, ssl.SSLError) and "ALERT" in str(reason).upper() or \
            str(reason).upper() == "TLSV1_UNRECOGNIZED_NAME":
        return Outcome(case.name, "rejected", None, f"TLS handshake failed: alert {reason}")
    return Outcome(case.name, "unreachable", None,
                   f"TLS handshake failed: {reason} (no TLS alert: not TLS, or cut off)")


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


def _connect(target: Target, port: int, case: Case) -> socket.socket | Outcome:
    try:
        raw = socket.create_connection((target.host, port), timeout=target.timeout)
    except OSError as e:
        return Outcome(case.name, "unreachable", None, f"cannot connect: {e.strerror or e}")
    raw.settimeout(target.timeout)
    return raw


def _session(target: Target, case: Case, context: ssl.SSLContext) -> ssl.SSLSession | Outcome:
    """A TLS 1.3 session made with SNI `case.session_from` (a full request, so that the
    server's session tickets arrive)."""
    raw = _connect(target, target.port, case)
    if isinstance(raw, Outcome):
        return raw
    first = Case(case.name, case.session_from or None, case.certificate,
                 host_header=case.session_from or target.name)
    with raw:
        try:
            with context.wrap_socket(raw, server_hostname=first.sni) as conn:
                conn.sendall(_request(target, first))
                _read(conn)
                session = conn.session
        except (ssl.SSLError, OSError) as e:
            failed = _handshake_failure(case, e)
            failed.detail = "could not make the session to resume: " + failed.detail
            return failed
    if session is None or not session.has_ticket and not session.id:
        return Outcome(case.name, "rejected", None, "the server issued no resumable session")
    return session


def run_case(target: Target, case: Case, self_signed: tuple[str, str]) -> Outcome:
    port = target.plain_port if case.plain and target.plain_port else target.port
    if case.plain:
        raw = _connect(target, port, case)
        if isinstance(raw, Outcome):
            return raw
        with raw:
            try:
                raw.sendall(_request(target, case))
            except OSError as e:
                return Outcome(case.name, "unreachable", None, f"connection ended: {e}")
            return _verdict(target, case, _read(raw), None)
    context = _context(case, target, self_signed)
    session = None
    if case.session_from is not None:
        made = _session(target, case, context)
        if isinstance(made, Outcome):
            return made
        session = made
    raw = _connect(target, port, case)
    if isinstance(raw, Outcome):
        return raw
    with raw:
        try:
            with context.wrap_socket(raw, server_hostname=case.sni, session=session) as conn:
                certificate = _certificate_subject(conn)
                reused = conn.session_reused
                conn.sendall(_request(target, case))
                outcome = _verdict(target, case, _read(conn), certificate)
        except (ssl.SSLError, ConnectionError, socket.timeout) as e:
            return _handshake_failure(case, e)
        if session is not None:
            outcome.detail += ("; session resumed" if reused else
                               "; not resumed (full handshake)")
        return outcome


def client_ca_names(target: Target) -> list[str] | None:
    """The CA names the origin asks client certificates from (TLS CertificateRequest), for
    SNI --name; None when pyOpenSSL is missing or the origin cannot be reached."""
    try:
        from OpenSSL import SSL
    except ImportError:
        return None
    raw = _connect(target, target.port, Case("CA names", target.name))
    if isinstance(raw, Outcome):
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
    with tempfile.TemporaryDirectory(prefix="nginx-mtls-lint-probe-") as scratch:
        self_signed = _self_signed(scratch, target.name)
        return [run_case(target, case, self_signed) for case in cases]


def unreachable(outcomes: list[Outcome]) -> list[Outcome]:
    return [o for o in outcomes if o.verdict == "unreachable"]


def exit_code(outcomes: list[Outcome]) -> int:
    """1: some client got content; 2: no case reached the origin; 0: otherwise."""
    if bypassed(outcomes):
        return 1
    return 2 if outcomes and len(unreachable(outcomes)) == len(outcomes) else 0


def bypassed(outcomes: list[Outcome]) -> bool:
    """Content reached a client the origin should refuse. (`--client-cert` names a
    certificate that must not get in, such as one from another server's CA.)"""
    return any(o.verdict == "CONTENT SERVED" for o in outcomes)


def as_dicts(outcomes: list[Outcome]) -> list[dict]:
    return [asdict(o) for o in outcomes]
