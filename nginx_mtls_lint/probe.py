"""`probe`: connect to an origin directly, the way an attacker who found its address would.

It only connects to the address it is given. Each case is one TLS (or plain) connection and
one HTTP/1.1 request; the verdict is "rejected", "redirected" or "CONTENT SERVED".
"""

from __future__ import annotations

import os
import re
import socket
import ssl
import tempfile
from dataclasses import asdict, dataclass, field

UNKNOWN_SNI = "nginx-mtls-lint-probe.invalid"
MAX_RESPONSE = 256 * 1024
STATUS = re.compile(rb"^HTTP/\d(?:\.\d)? (\d{3})")


@dataclass(slots=True)
class Case:
    name: str
    sni: str | None
    certificate: str = "none"  # none | self-signed | given
    plain: bool = False
    malformed: bool = False
    host_header: str | None = None  # default: the probed name


@dataclass(slots=True)
class Outcome:
    case: str
    verdict: str  # rejected | redirected | CONTENT SERVED
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


def run_case(target: Target, case: Case, self_signed: tuple[str, str]) -> Outcome:
    port = target.plain_port if case.plain and target.plain_port else target.port
    try:
        raw = socket.create_connection((target.host, port), timeout=target.timeout)
    except OSError as e:
        return Outcome(case.name, "rejected", None, f"cannot connect: {e.strerror or e}",
                       None)
    with raw:
        raw.settimeout(target.timeout)
        if case.plain:
            raw.sendall(_request(target, case))
            return _verdict(target, case, _read(raw), None)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        if case.certificate == "self-signed":
            context.load_cert_chain(*self_signed)
        elif case.certificate == "given" and target.client_cert:
            context.load_cert_chain(target.client_cert, target.client_key)
        try:
            with context.wrap_socket(raw, server_hostname=case.sni) as conn:
                certificate = _certificate_subject(conn)
                conn.sendall(_request(target, case))
                return _verdict(target, case, _read(conn), certificate)
        except ssl.SSLError as e:
            return Outcome(case.name, "rejected", None,
                           f"TLS handshake failed: {e.reason or e}", None)
        except (ConnectionError, socket.timeout) as e:
            return Outcome(case.name, "rejected", None, f"connection ended: {e}")


def probe(target: Target) -> list[Outcome]:
    cases = target.cases or default_cases(target)
    with tempfile.TemporaryDirectory(prefix="nginx-mtls-lint-probe-") as scratch:
        self_signed = _self_signed(scratch, target.name)
        return [run_case(target, case, self_signed) for case in cases]


def bypassed(outcomes: list[Outcome]) -> bool:
    """Content reached a client the origin should refuse. (`--client-cert` names a
    certificate that must not get in, such as one from another server's CA.)"""
    return any(o.verdict == "CONTENT SERVED" for o in outcomes)


def as_dicts(outcomes: list[Outcome]) -> list[dict]:
    return [asdict(o) for o in outcomes]
