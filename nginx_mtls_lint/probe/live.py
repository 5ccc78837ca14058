"""Send the planned requests to the target, bounded, and set each answer beside its prediction.

Bounds: at most `budget` requests (a resumption row is two), at most `rate` connections a
second, every wait `timeout`, the whole run `deadline`; only GET, HEAD and OPTIONS, never a
body. Content is judged by the `--content-marker` when given, else by comparing with what the
valid client got for the same server, URI and method (same status, same body length class),
else by a 2xx status with a body.
"""

from __future__ import annotations

import os
import ssl
import tempfile
import time
from dataclasses import dataclass, field

from . import wire
from ..versions import UNKNOWN, Target
from ..flow.values import VISITOR_ADDRESS
from .plan import ADDRESS_HEADERS, Expect, Row

NOT_SENDABLE = ("not sendable: it needs a connection from a Cloudflare address, which only a "
                "test network of one's own gives")
NO_CONTENT = ("refused", "redirect", "text", "closed", "handshake-refused")
USER_AGENT = "nginx-mtls-lint-probe"


@dataclass(slots=True)
class Options:
    host: str
    timeout: float = 5.0
    deadline: float = 120.0
    budget: int = 300
    rate: float = 20.0  # connections per second
    valid: tuple[str, str] | None = None  # a certificate that must get in, and its key
    other: tuple[str, str] | None = None  # a certificate that must not
    marker: str | None = None
    source: str | None = None  # the local address to connect from
    port: int | None = None  # --target's port: it replaces the single socket's
    nginx: Target = UNKNOWN  # --nginx-version: what resuming a session does depends on it
    # an address in Cloudflare's ranges the probe can connect from (only in a test network
    # of one's own); None: the Cloudflare-source rows are not sendable
    cloudflare_source: str | None = None


@dataclass(slots=True)
class Seen:
    answer: str  # content | refused | redirect | text | closed | handshake-refused |
    #              unreachable | not-sent
    status: int | None = None
    detail: str = ""
    server: str | None = None  # the Server header of the answer
    marked: bool = False  # the body holds the --content-marker
    unmarked_content: bool = False  # content without the marker: not the protected one

    @property
    def reached(self) -> bool:
        return self.answer not in ("unreachable", "not-sent")


@dataclass(slots=True)
class Verdict:
    row: Row
    seen: Seen
    agreement: str  # agree | disagree | unknown (cannot prove) | unreached
    severity: str | None = None  # of a disagreement: error | warning
    evidence: str = ""

    @property
    def bypass(self) -> bool:
        """Content reached a client without a valid certificate under a name the
        configuration protects (plan.Planner._protects); a public site's content is not."""
        # --valid-cert must get in; another certificate may be the request server's own
        # client (another CA's certificate on the server of that CA)
        admitted = self.row.valid or self.row.expect.kind == "valid"
        return self.seen.answer == "content" and not self.seen.unmarked_content and \
            not admitted and self.row.protected


@dataclass(slots=True)
class Sender:
    options: Options
    folder: str
    sent: int = 0  # requests sent (the budget's unit)
    ends_at: float = 0.0
    _last: float = 0.0
    _contexts: dict[tuple, ssl.SSLContext] = field(default_factory=dict)
    _forged: dict[object, tuple[str, str]] = field(default_factory=dict)
    _self: tuple[str, str] | None = None

    def send(self, row: Row) -> wire.Reply | None:
        """The answer to one row; None when the budget or the deadline is spent."""
        request = row.request
        assert request.safe and {name for name, _ in request.headers} <= set(ADDRESS_HEADERS), \
            "only safe methods and address headers, never a body"
        cost = 2 if request.resume_from is not None else 1
        if self.sent + cost > self.options.budget or time.monotonic() >= self.ends_at:
            return None
        source = self.options.source
        if request.source == "cloudflare":
            source = self.options.cloudflare_source
            if source is None:
                return wire.Reply("unsendable", detail=NOT_SENDABLE)
        payload = self._bytes(row)
        if not request.tls:
            return self._exchange(row.port, payload, None, None, source=source)
        context = self._context(row)
        session = None
        if request.resume_from is not None:
            first = self._exchange(row.port, payload.replace(
                f"Host: {request.host_header}".encode(),
                f"Host: {request.resume_from or request.host_header}".encode()),
                context, request.resume_from or None)
            if first.kind != "http" or first.session is None:
                return wire.Reply("unreachable", detail="could not make the session to "
                                  f"resume: {first.detail}") if first.kind != "alert" else first
            session = first.session
        reply = self._exchange(row.port, payload, context, request.sni, session, source)
        if session is not None and reply.kind == "http":
            reply.detail += "; session resumed" if reply.resumed else "; not resumed"
        return reply

    def _exchange(self, port: int, payload: bytes, context: ssl.SSLContext | None,
                  sni: str | None, session: ssl.SSLSession | None = None,
                  source: str | None = None) -> wire.Reply:
        wait = self._last + 1 / self.options.rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last = time.monotonic()
        self.sent += 1
        limit = max(min(2 * self.options.timeout, self.ends_at - time.monotonic()), 0.0)
        return wire.exchange(self.options.host, port, payload, self.options.timeout, limit,
                             context, sni, session, source=source or self.options.source)

    @staticmethod
    def _bytes(row: Row) -> bytes:
        request = row.request
        lines = [f"{request.method} {request.target} HTTP/1.1"]
        if request.host_header is not None:
            lines.append(f"Host: {request.host_header}")
        if request.source == "cloudflare":  # what Cloudflare's edge adds
            lines.append(f"CF-Connecting-IP: {VISITOR_ADDRESS}")
        lines += [f"{name}: {value}" for name, value in request.headers]
        lines += [f"User-Agent: {USER_AGENT}", "Connection: close"]
        if request.malformed:  # nginx answers 400 while reading the headers
            lines.append("this header line has no colon")
        lines += ["", ""]
        return "\r\n".join(lines).encode()

    def _context(self, row: Row) -> ssl.SSLContext:
        request = row.request
        key = (request.certificate, row.issuer, request.resume_from is not None)
        if key not in self._contexts:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            if request.resume_from is not None:
                context.minimum_version = ssl.TLSVersion.TLSv1_3
            pair = self._pair(request.certificate, row.issuer)
            if pair is not None:
                context.load_cert_chain(*pair)
            self._contexts[key] = context
        return self._contexts[key]

    def _pair(self, kind: str, issuer: object) -> tuple[str, str] | None:
        if kind == "valid":
            return self.options.valid
        if kind == "other-ca":
            return self.options.other
        if kind == "self-signed":
            if self._self is None:
                self._self = wire.self_signed(self.folder, "nginx-mtls-lint-probe")
            return self._self
        if kind == "self-signed-trusted-dn" and issuer is not None:
            if issuer not in self._forged:
                self._forged[issuer] = self._forge(issuer, len(self._forged))
            return self._forged[issuer]
        return None

    def _forge(self, issuer: object, number: int) -> tuple[str, str]:
        """A self-signed certificate naming the trusted CA as its issuer and, when the valid
        certificate is known, the valid client's subject."""
        from cryptography import x509

        subject = None
        if self.options.valid is not None:
            with open(self.options.valid[0], "rb") as f:
                subject = x509.load_pem_x509_certificate(f.read()).subject
        folder = os.path.join(self.folder, f"forged-{number}")
        os.makedirs(folder, exist_ok=True)
        return wire.self_signed(folder, "nginx-mtls-lint-probe", issuer, subject)


def run(rows: list[Row], options: Options) -> list[Verdict]:
    """Send the rows (round-robin over servers, so that a spent budget leaves every server
    some requests) and judge each answer."""
    replies: dict[int, wire.Reply | None] = {}
    with tempfile.TemporaryDirectory(prefix="nginx-mtls-lint-probe-") as folder:
        sender = Sender(options, folder, ends_at=time.monotonic() + options.deadline)
        for index in _round_robin(rows):
            replies[index] = sender.send(rows[index])
    references: dict[tuple, wire.Reply] = {}
    for index, row in enumerate(rows):
        reply = replies[index]
        if row.valid and reply is not None and reply.kind == "http":
            known = references.get(_key(row))
            if known is None or not 200 <= (known.status or 0) < 300:  # a 2xx one first
                references[_key(row)] = reply
    _closes_of_http_servers(rows, replies)
    return [judge(row, _seen(row, replies[i], references, options.marker))
            for i, row in enumerate(rows)]


def _closes_of_http_servers(rows: list[Row], replies: dict[int, wire.Reply | None]) -> None:
    """A plain connection closed without a byte on a port that answers HTTP to other
    requests: the server closed it (nginx's 444), not something that is not HTTP."""
    http_ports = {rows[i].port for i, reply in replies.items()
                  if reply is not None and reply.kind == "http" and not rows[i].request.tls}
    for index, reply in replies.items():
        if reply is not None and reply.empty and rows[index].port in http_ports:
            replies[index] = wire.Reply("closed", detail="closed without a response (444)")


def _round_robin(rows: list[Row]) -> list[int]:
    """Row indexes: each server's first row, then each one's second, ...; valid rows of a
    server before its others (they are the reference for content)."""
    by_server: dict[int, list[int]] = {}
    for index, row in enumerate(rows):
        by_server.setdefault(id(row.server), []).append(index)
    queues = [sorted(indexes, key=lambda i: not rows[i].valid) for indexes in by_server.values()]
    order = []
    for depth in range(max((len(q) for q in queues), default=0)):
        order += [q[depth] for q in queues if depth < len(q)]
    return order


def _key(row: Row) -> tuple:
    request = row.request
    return (row.port, request.tls, request.host_header, request.target, request.method)


def _seen(row: Row, reply: wire.Reply | None, references: dict, marker: str | None) -> Seen:
    if reply is None:
        return Seen("not-sent", None, "not sent: the request budget or the deadline was spent")
    if reply.kind == "unsendable":
        return Seen("not-sent", None, reply.detail)
    if reply.kind == "unreachable":
        return Seen("unreachable", None, reply.detail)
    if reply.kind == "alert":
        return Seen("handshake-refused", None, reply.detail)
    if reply.kind == "closed":
        return Seen("closed", None, reply.detail)
    server = _header(reply.head, b"server")
    status = reply.status or 0
    marked = marker is not None and marker.encode() in reply.body
    if is_content(reply, references.get(_key(row)), marker, row.request.method):
        return Seen("content", status, f"HTTP {status}, {len(reply.body)} bytes", server,
                    marked, marker is not None and not marked)
    answer = "redirect" if 300 <= status < 400 else "text" if 200 <= status < 300 else "refused"
    return Seen(answer, status, f"HTTP {status}", server)


def is_content(reply: wire.Reply, reference: wire.Reply | None, marker: str | None,
               method: str) -> bool:
    status = reply.status or 0
    if method == "HEAD":  # no body to judge: the status the valid client gets, or a 2xx
        return 200 <= status < 300 and (reference is None or status == reference.status)
    if marker is not None and (marker.encode() in reply.body or reference is None
                               or marker.encode() in reference.body):
        return marker.encode() in reply.body
    # no marker, or one this server's own content does not hold (another site on the
    # origin): what the valid client gets is the content
    if reference is not None and 200 <= (reference.status or 0) < 300:
        return status == reference.status and (
            reply.body == reference.body
            or _length_class(len(reply.body)) == _length_class(len(reference.body)))
    return 200 <= status < 300 and (bool(reply.body) or method == "HEAD")


def _length_class(length: int) -> int:
    return length.bit_length()  # 0, 1, 2-3, 4-7, ...: a page and an error text differ


def _header(head: bytes, name: bytes) -> str | None:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip().decode(errors="replace")[:80]
    return None


def judge(row: Row, seen: Seen) -> Verdict:
    expect = row.expect
    if not seen.reached:
        return Verdict(row, seen, "unreached")
    if not expect.known:
        return Verdict(row, seen, "unknown")
    if expect.content == (seen.answer == "content"):
        return Verdict(row, seen, "agree")
    if expect.content and seen.status in (429, 503):
        return Verdict(row, seen, "unknown", evidence="the origin limited the requests or was "
                       "unavailable (limit_req and limit_conn answer 503): lower --rate")
    if expect.files and (seen.status in (403, 404) or expect.status == 404):
        return Verdict(row, seen, "unknown", evidence="the answer depends on which files exist "
                       "on the origin (static files, try_files)")
    if seen.answer == "content" and not seen.marked and expect.status == seen.status:
        # the same answer as predicted (a welcome page, a fixed text): only the valid client
        # getting it too made it look like content
        return Verdict(row, seen, "agree")
    if seen.answer == "content":
        return Verdict(row, seen, "disagree", "error",
                       "the running origin serves content the configuration refuses: it runs "
                       "another configuration (a reload that failed, a file edited on the "
                       "host), or something in front answers for it")
    return Verdict(row, seen, "disagree", "warning", evidence(row.expect, seen))


def evidence(expect: Expect, seen: Seen) -> str:
    """Which way the evidence points when a predicted open path was refused."""
    if seen.server is not None and "nginx" not in seen.server.lower():
        return (f"the answer comes from `{seen.server}`, not nginx: something in front of "
                "the origin refuses it (the configuration may still be open behind it)")
    if seen.answer == "handshake-refused":
        return ("the TLS handshake was refused: the running configuration rejects it "
                "(ssl_reject_handshake, another certificate setup): drift, or a TLS "
                "terminator in front")
    if seen.status in (400, 495, 496):
        return ("nginx refused it as a certificate error (400): the running configuration "
                "verifies client certificates here, unlike the file given (drift), or the "
                "analysis is wrong about this path (a false alarm: please report it)")
    if seen.status == 421:
        return "421: the running server verifies clients while the file given does not (drift)"
    return ("the running origin refused it: drift from the file given, a device in front, or "
            "a false alarm of the analysis (please report it with `trace`)")
