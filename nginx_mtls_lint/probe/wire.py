"""One exchange with an origin, bounded in time whatever the other end does.

Every connection has a hard limit (a watchdog shuts the socket down when it is spent, so a
server trickling one byte a second or holding a handshake open cannot keep the probe running)
and every read its own timeout. What came back is classified by what it proves:

- `http`: an HTTP response (status, headers, body): the origin answered;
- `alert`: the server ended the TLS handshake with an alert (nginx's `ssl_reject_handshake`,
  a required certificate refused by OpenSSL): a refusal by a TLS server;
- `closed`: a TLS handshake completed, then the connection closed with no response (nginx's
  `return 444`): a TLS server was reached;
- `unreachable`: no connection, a timeout, a reset, bytes that are not TLS or not HTTP, a
  plain connection closed without a byte: nothing was proven about the origin.
"""

from __future__ import annotations

import os
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass

MAX_RESPONSE = 256 * 1024
STATUS = re.compile(rb"^HTTP/\d(?:\.\d)? (\d{3})[ \r]")
# SNI host_name: DNS labels of 1-63 characters, at most 253 in all (RFC 6066, RFC 1035).
LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
MAX_NAME = 253


def name_problem(name: str) -> str | None:
    """Why `name` cannot be sent as SNI and Host (None: it can)."""
    text = name[:-1] if name.endswith(".") else name
    if not text:
        return "it is empty"
    if len(text) > MAX_NAME:
        return f"it has {len(text)} characters (a DNS name has at most {MAX_NAME})"
    for label in text.split("."):
        if not label:
            return "it has an empty label (two dots in a row, or a leading dot)"
        try:
            encoded = label.encode("idna").decode("ascii") if not label.isascii() else label
        except UnicodeError:
            return f"the label {label[:20]!r} is not a DNS label"
        if len(encoded) > 63:
            return (f"the label {label[:20]}... has {len(encoded)} characters (a DNS label "
                    "has at most 63)")
        if not LABEL.fullmatch(encoded):
            return f"the label {label[:20]!r} is not a DNS label (letters, digits, hyphens)"
    return None


def ascii_name(name: str) -> str:
    """The name as SNI and Host carry it (IDNA, "xn--" labels); `name_problem` first."""
    return name if name.isascii() else name.encode("idna").decode("ascii")


@dataclass(slots=True)
class Reply:
    kind: str  # http | alert | closed | unreachable (| unsendable: live.py did not send it)
    status: int | None = None
    head: bytes = b""
    body: bytes = b""
    detail: str = ""
    certificate: str | None = None  # subject of the certificate the origin showed
    resumed: bool | None = None
    session: ssl.SSLSession | None = None
    empty: bool = False  # a plain connection closed without a byte (444, or not HTTP)

    @property
    def reached(self) -> bool:
        return self.kind not in ("unreachable", "unsendable")


class Watchdog:
    """Shuts `sock` down when `seconds` have passed: every blocked read or handshake on it
    then fails at once."""

    def __init__(self, sock: socket.socket, seconds: float):
        self.fired = False
        self._sock = sock
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        self.fired = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def __enter__(self) -> "Watchdog":
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


def _read(conn: socket.socket, until: float | None = None) -> bytes:
    """The response, until the server closes, MAX_RESPONSE bytes or the time `until`
    (time.monotonic()) has come; each recv waits at most the socket's timeout."""
    data = b""
    while len(data) < MAX_RESPONSE:
        if until is not None and time.monotonic() >= until:
            break
        try:
            chunk = conn.recv(65536)
        except (ssl.SSLError, OSError):
            break
        if not chunk:
            break
        data += chunk
    return data


def connect(host: str, port: int, timeout: float,
            source: str | None = None) -> socket.socket | Reply:
    try:
        raw = socket.create_connection((host, port), timeout=max(timeout, 0.001),
                                       source_address=(source, 0) if source else None)
    except OSError as e:
        return Reply("unreachable", detail=f"cannot connect: {e.strerror or e}")
    raw.settimeout(timeout)
    return raw


def classify(data: bytes, tls: bool) -> Reply:
    match = STATUS.match(data)
    if match:
        head, _, body = data.partition(b"\r\n\r\n")
        return Reply("http", int(match.group(1)), head, body, f"HTTP {match.group(1).decode()}")
    if not data and tls:
        return Reply("closed", detail="the TLS server closed the connection without a "
                                      "response (nginx's return 444)")
    if not data:
        return Reply("unreachable", detail="the connection closed without a response (not "
                                           "an HTTP server, or return 444: cannot tell)",
                     empty=True)
    return Reply("unreachable", detail=f"not an HTTP response: {data[:24]!r}")


def handshake_failure(error: BaseException, watchdog: Watchdog | None = None) -> Reply:
    """A TLS alert from the server is a refusal; anything else (reset, EOF, a reply that is
    not TLS, a timeout) means the probe did not reach a TLS server it could judge."""
    if watchdog is not None and watchdog.fired:
        return Reply("unreachable", detail="TLS handshake failed: time limit reached")
    reason = str(getattr(error, "reason", None) or error)
    if isinstance(error, ssl.SSLError) and ("ALERT" in reason.upper()
                                            or reason.upper() == "TLSV1_UNRECOGNIZED_NAME"):
        return Reply("alert", detail=f"TLS handshake failed: alert {reason}")
    return Reply("unreachable",
                 detail=f"TLS handshake failed: {reason} (no TLS alert: not TLS, or cut off)")


def certificate_subject(conn: ssl.SSLSocket) -> str | None:
    der = conn.getpeercert(binary_form=True)
    if not der:
        return None
    from cryptography import x509

    try:
        cert = x509.load_der_x509_certificate(der)
        names = cert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    except ValueError:
        return "(a certificate the probe cannot read)"
    return cert.subject.rfc4514_string() + (f" (DNS: {', '.join(names)})" if names else "")


def exchange(host: str, port: int, payload: bytes, timeout: float, limit: float,
             context: ssl.SSLContext | None = None, sni: str | None = None,
             session: ssl.SSLSession | None = None, source: str | None = None) -> Reply:
    """Connect, (handshake,) send `payload`, read the answer; never longer than `limit`
    seconds, no single wait longer than `timeout`. `context` None: plain TCP."""
    until = time.monotonic() + limit
    raw = connect(host, port, min(timeout, limit), source)
    if isinstance(raw, Reply):
        return raw
    with raw, Watchdog(raw, limit) as watchdog:
        if context is None:
            try:
                raw.sendall(payload)
            except OSError as e:
                return Reply("unreachable", detail=f"connection ended: {e}")
            reply = classify(_read(raw, until), tls=False)
        else:
            try:
                conn = context.wrap_socket(raw, server_hostname=sni, session=session)
            except (ssl.SSLError, OSError, ValueError) as e:
                return handshake_failure(e, watchdog)
            with conn:
                reply = _tls_request(conn, payload, until)
        if watchdog.fired and reply.kind != "http":
            reply = Reply("unreachable", detail=f"no complete answer within {limit:g} s")
    return reply


def _tls_request(conn: ssl.SSLSocket, payload: bytes, until: float) -> Reply:
    certificate = certificate_subject(conn)
    resumed = conn.session_reused
    try:
        conn.sendall(payload)
    except (ssl.SSLError, OSError):
        pass  # the server may have answered and closed already: read what it said
    reply = classify(_read(conn, until), tls=True)
    reply.certificate, reply.resumed = certificate, resumed
    try:
        reply.session = conn.session
    except (ssl.SSLError, OSError, ValueError):
        reply.session = None
    return reply


def self_signed(folder: str, name: str, issuer_name: object = None,
                subject_name: object = None) -> tuple[str, str]:
    """A self-signed client certificate (and key) for CN=`name` (or `subject_name`, an
    x509.Name); `issuer_name` (an x509.Name) forges the issuer a CA's subject, as a home-made
    CA with that name would."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = subject_name if isinstance(subject_name, x509.Name) else \
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer = issuer_name if isinstance(issuer_name, x509.Name) else subject
    now = dt.datetime.now(dt.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(days=1)))
    if issuer is not subject:
        # A home-made CA of the same name: its key identifier is not the real CA's, so
        # OpenSSL finds no issuer ("unable to verify the first certificate") rather than a
        # bad signature by the real one.
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier(os.urandom(20), None, None), False)
    cert = builder.sign(key, hashes.SHA256())
    stem = "forged" if issuer is not subject else "self"
    cert_path, key_path = (os.path.join(folder, f"{stem}.pem"),
                           os.path.join(folder, f"{stem}.key"))
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_path, key_path
