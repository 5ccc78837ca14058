"""Send one request.Request to the origin inside the private network namespace.

HTTP/1.1 is written by hand (the request line and Host exactly as the record says);
HTTP/2 is a minimal client: the preface, one HEADERS frame (HPACK literals, no Huffman),
then frames until the stream ends. TLS 1.3 resumption makes a first connection with the
session's SNI (None: none), reads its answer so that the tickets arrive, then resumes.
"""

from __future__ import annotations

import functools
import socket
import ssl
import struct
import threading
from pathlib import Path

from nginx_harness import CONTENT, http1_answer
from nginx_mtls_lint.request import Request

ORIGIN = "192.0.2.10"
SOURCES = {"direct": "198.51.100.7", "cloudflare": "173.245.48.5", "loopback": "127.0.0.1"}
VISITOR = "203.0.113.50"
# The labelling PKI's files (tests/test_flow_labels.make_flow_pki) per certificate kind. Another
# CA's client carries the valid client's name: the worst holder of that CA's certificates (a
# subject pin does not say who issued it).
CERT_FILES = {"self-signed": "selfsigned", "self-signed-trusted-dn": "trusteddn",
              "other-ca": "otherdn", "valid": "valid"}
TIMEOUT = 4


def context(pki: Path, certificate: str, h2: bool) -> ssl.SSLContext:
    """One context per kind: a session resumes only with the context that made it."""
    with _LOCK:
        return _context(pki, certificate, h2)


_LOCK = threading.Lock()


@functools.lru_cache(maxsize=None)
def _context(pki: Path, certificate: str, h2: bool) -> ssl.SSLContext:
    made = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    made.check_hostname = False
    made.verify_mode = ssl.CERT_NONE
    if certificate != "none":
        name = CERT_FILES[certificate]
        made.load_cert_chain(pki / f"client-{name}.pem", pki / f"client-{name}.key")
    if h2:
        made.set_alpn_protocols(["h2"])
    return made


def headers_of(request: Request) -> list[tuple[str, str]]:
    found = []
    if request.source == "cloudflare":
        found += [("CF-Connecting-IP", VISITOR), ("CF-Ray", "8c2f1a9b7d3e4f56-FRA")]
    found += list(request.headers)
    if request.method not in ("GET", "HEAD"):
        found.append(("Content-Length", "0"))
    return found


def http1(request: Request) -> bytes:
    lines = [f"{request.method} {request.target} HTTP/1.1"]
    if request.host_header is not None:
        lines.append(f"Host: {request.host_header}")
    lines += ["Connection: close", "User-Agent: differential"]
    lines += [f"{name}: {value}" for name, value in headers_of(request)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def connect(request: Request, port: int) -> socket.socket:
    source = SOURCES.get(request.source, request.source)
    destination = "127.0.0.1" if source == "127.0.0.1" else ORIGIN
    sock = socket.create_connection((destination, port), timeout=TIMEOUT,
                                    source_address=(source, 0))
    if request.before_tls:
        sock.sendall(request.before_tls)
    return sock


def read_all(sock: socket.socket, limit: int = 1 << 20) -> bytes:
    chunks, size = [], 0
    try:
        while size < limit:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except (OSError, ssl.SSLError):
        pass
    return b"".join(chunks)


def session_for(request: Request, port: int, pki: Path) -> ssl.SSLSession | None:
    """A TLS session made with the SNI of `request.resume_from` ("" for none)."""
    made = context(pki, request.certificate, request.protocol == "h2")
    try:
        with connect(request, port) as raw:
            with made.wrap_socket(raw, server_hostname=request.resume_from or None) as tls:
                tls.sendall(http1(request.with_(protocol="http/1.1", target="/")))
                read_all(tls)
                return tls.session
    except (OSError, ssl.SSLError):
        return None


def send(request: Request, port: int, pki: Path) -> dict:
    """status (None: no HTTP answer), content (the marker came back), detail."""
    try:
        return _send(request, port, pki)
    except Exception as error:  # a client-side failure is no answer from nginx
        return {"status": None, "content": False, "detail": f"client: {error!r}"}


def _send(request: Request, port: int, pki: Path) -> dict:
    try:
        sock = connect(request, port)
    except OSError as error:
        return {"status": None, "content": False, "detail": f"connect: {error}"}
    try:
        if request.tls:
            session = session_for(request, port, pki) if request.resume_from is not None \
                else None
            made = context(pki, request.certificate, request.protocol == "h2")
            sock = made.wrap_socket(sock, server_hostname=request.sni, session=session)
            if request.protocol == "h2" and sock.selected_alpn_protocol() == "h2":
                return http2(sock, request)
        sock.sendall(http1(request))
        data = read_all(sock)
    except (OSError, ssl.SSLError) as error:
        return {"status": None, "content": False, "detail": f"ended: {error}"}
    finally:
        sock.close()
    return http1_answer(data)


# --------------------------------------------------------------------------- HTTP/2

def _length(value: int, prefix: int = 7) -> bytes:
    """An HPACK integer with a `prefix`-bit prefix and no flags."""
    limit = (1 << prefix) - 1
    if value < limit:
        return bytes([value])
    out, value = [limit], value - limit
    while value >= 128:
        out.append(value % 128 + 128)
        value //= 128
    return bytes(out + [value])


def _literal(name: str, value: str) -> bytes:
    raw_name, raw_value = name.lower().encode(), value.encode()
    return b"\x00" + _length(len(raw_name)) + raw_name + _length(len(raw_value)) + raw_value


def _frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return struct.pack("!I", len(payload))[1:] + bytes([kind, flags]) + \
        struct.pack("!I", stream) + payload


def http2(sock: ssl.SSLSocket, request: Request) -> dict:
    fields = [(":method", request.method), (":scheme", "https"), (":path", request.target)]
    if request.host_header is not None:
        fields.append((":authority", request.host_header))
    fields += headers_of(request)
    block = b"".join(_literal(n, v) for n, v in fields)
    sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + _frame(4, 0, 0, b"")
                 + _frame(1, 0x5, 1, block))
    data, status, body = b"", None, b""
    while True:
        while len(data) < 9:
            chunk = sock.recv(65536)
            if not chunk:
                return _h2_result(status, body, "closed")
            data += chunk
        length = int.from_bytes(data[:3], "big")
        while len(data) < 9 + length:
            chunk = sock.recv(65536)
            if not chunk:
                return _h2_result(status, body, "closed")
            data += chunk
        kind, flags, stream = data[3], data[4], int.from_bytes(data[5:9], "big") & 0x7FFFFFFF
        payload, data = data[9:9 + length], data[9 + length:]
        if kind == 1 and stream == 1:
            status = _h2_status(payload) or status
        elif kind == 0 and stream == 1:
            body += payload
        elif kind in (3, 7):  # RST_STREAM, GOAWAY
            return _h2_result(status, body, "reset")
        if stream == 1 and flags & 0x1 and kind in (0, 1):
            return _h2_result(status, body, "ended")


STATIC_STATUS = {0x88: 200, 0x89: 204, 0x8A: 206, 0x8B: 304, 0x8C: 400, 0x8D: 404, 0x8E: 500}


def _h2_status(payload: bytes) -> int | None:
    """nginx writes :status first: an indexed static entry or index 8 with three raw digits."""
    if not payload:
        return None
    if payload[0] in STATIC_STATUS:
        return STATIC_STATUS[payload[0]]
    if payload[0] in (0x48, 0x08) and len(payload) >= 5 and payload[1] == 3:
        return int(payload[2:5])
    return None


def _h2_result(status: int | None, body: bytes, how: str) -> dict:
    return {"status": status, "content": CONTENT.encode() in body,
            "detail": f"h2 {status} ({how})"}
