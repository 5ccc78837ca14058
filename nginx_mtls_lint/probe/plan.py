"""`probe --from-config`: the requests that decide each server's verdict, each with the answer
the analysis predicts for it.

For every http {} server on every listen socket the target can reach, the requests are
Request records (request.py): the server's name as SNI and Host, no SNI, another server's
SNI, each certificate kind the probe holds, plain HTTP to the TLS port, the plain sockets, and
the URIs and methods the flow found decisive. The prediction follows nginx's own order
(ngx_http_ssl_servername, ngx_http_set_virtual_server, ngx_http_process_request): the
handshake server is the one SNI names (else the socket's default) and verifies the
certificate against its own CA files; the request server is the one Host names; an SNI that
differs from Host on a verifying request server is 421; then the flow simulates the request
server's phases for the client the handshake left (flow.ServerFlow).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass, field, replace
from typing import Any, Iterator

from ..flow import MAYBE, YES, Client, ServerFlow
from ..flow.values import CLOUDFLARE_ADDRESS
from ..flow.questions import verify_value
from ..flow.access import stream_refusal
from ..model import Config, Server, Socket, StreamServer, TlsServer, is_loopback
from ..parser import Stmt
from ..request import Request
from .. import resumption
from ..versions import UNKNOWN, Target
from .wire import name_problem
from ..analysis import Analysis

UNKNOWN_NAME = "nginx-mtls-lint-probe.invalid"
WILDCARD_LABEL = "nginx-mtls-lint-probe"
MAX_URIS = 4  # per server: "/" and the URIs of the paths that decide the verdict


@dataclass(frozen=True, slots=True)
class Expect:
    """What the analysis predicts for one request."""

    answer: str  # content | refused | redirect | text | closed | handshake-refused | unknown
    status: int | None
    why: str
    file: str | None = None  # the configuration line that made the prediction
    line: int | None = None
    files: bool = False  # content from static files: only if the file exists on the origin
    # the client the handshake left, in the flow's words (valid: a certificate the request's
    # server expects); None: not worked out
    kind: str | None = None

    @property
    def content(self) -> bool:
        return self.answer == "content"

    @property
    def known(self) -> bool:
        return self.answer != "unknown"


@dataclass(frozen=True, slots=True)
class Row:
    server: TlsServer  # an http {} server, or a stream {} one
    socket: str  # as the configuration says it
    port: int
    request: Request
    expect: Expect
    # the request's certificate is one the server must let in (the valid client)
    valid: bool = False
    # for a self-signed certificate with the trusted DN: that DN (an x509.Name), its issuer
    issuer: object = None
    # the configuration demands a certificate for this Host (see Planner._protects)
    protected: bool = False


@dataclass(slots=True)
class Certificates:
    """What the probe can present: DER of each kind's certificate (None: not held)."""

    valid: bytes | None = None
    other: bytes | None = None

    def der(self, kind: str) -> bytes | None:
        return {"valid": self.valid, "other-ca": self.other}.get(kind)


@dataclass(slots=True)
class Planner:
    config: Config
    analysis: Analysis  # the run's analysis: flows, trust, expected chains
    certificates: Certificates
    target_host: str
    target_port: int | None = None
    target: Target = UNKNOWN  # the nginx the origin runs (resumption depends on it)
    notes: list[str] = field(default_factory=list)
    _issuers: dict[int, list[tuple[str, object]]] = field(default_factory=dict)
    _protected: set[str] | None = None  # names of servers that demand a certificate

    # ---------------------------------------------------------------- sockets

    def sockets(self, table: dict | None = None) -> list[tuple[str, Socket, int]]:
        """(configuration socket, socket, port to connect to) for each socket (of `table`:
        the http {} ones by default) the target reaches; the others are noted."""
        target_loopback = _loopback(self.target_host)
        found = []
        for name, socket in (self.config.sockets if table is None else table).items():
            host, _, port = name.rpartition(":")
            if name.startswith("unix:") or "/" in port or not port.isdigit():
                self.notes.append(f"{name}: not a TCP socket, not probed")
                continue
            if any(listen.proxy_protocol for _, listen in socket.entries):
                self.notes.append(f"{name}: expects the PROXY protocol from a load balancer; "
                                  "not probed")
                continue
            if is_loopback(name) and not target_loopback:
                self.notes.append(f"{name}: listens on loopback only; probed only when "
                                  "--target is a loopback address")
                continue
            dual = any("ipv6only=off" in listen.stmt.args for _, listen in socket.entries)
            if not _maps_onto(host, self.target_host, dual):
                self.notes.append(f"{name}: listens on another address than {self.target_host}")
                continue
            found.append((name, socket, int(port)))
        found = self._most_specific(found)
        if self.target_port is not None:
            if len({port for _, _, port in found}) > 1:
                raise ValueError(f"--target names port {self.target_port}, but the "
                                 f"configuration has {len(found)} sockets: give --target "
                                 "without a port")
            found = [(name, socket, self.target_port) for name, socket, _ in found]
        return found

    def _most_specific(self, found: list[tuple[str, Socket[Server], int]]
                       ) -> list[tuple[str, Socket[Server], int]]:
        """A connection to an address reaches the socket listening on that very address,
        and the wildcard one only when there is none (facts §3)."""
        specific = {port for name, _, port in found if not _wildcard(name.rpartition(":")[0])}
        kept = []
        for name, socket, port in found:
            if port in specific and _wildcard(name.rpartition(":")[0]):
                self.notes.append(f"{name}: {self.target_host}:{port} reaches the socket "
                                  "listening on that address, not this wildcard one")
                continue
            kept.append((name, socket, port))
        return kept

    # ---------------------------------------------------------------- the rows

    def rows(self, uri_budget: int = MAX_URIS) -> list[Row]:
        rows: list[Row] = []
        for name, socket, port, server, host in self._probed(self.config.sockets):
            issuer = self._trusted_name(server)
            for request in self.requests(server, socket, host, uri_budget):
                if request.certificate == "self-signed-trusted-dn" and issuer is None:
                    continue
                rows.append(Row(server, name, port, request, self.predict(socket, request),
                                request.certificate == "valid",
                                issuer if request.certificate == "self-signed-trusted-dn"
                                else None, self._protects(request.host_header, socket)))
        return rows

    def _probed(self, table: dict) -> Iterator[tuple[str, Socket, int, Any, str]]:
        """(configuration socket, socket, port, server, name to send) for each server of the
        sockets the target reaches; servers without a name a client can send are noted."""
        for name, socket, port in self.sockets(table):
            for server in socket.servers:
                host = probe_name(server, socket)
                if host is None:
                    self.notes.append(f"{server.label} ({server.file}:{server.line}) on "
                                      f"{name}: no server_name a client can send; not probed")
                    continue
                yield name, socket, port, server, host

    def stream_rows(self) -> list[Row]:
        """stream {} servers: a TLS handshake with each certificate kind, then a byte
        exchange (an HTTP request) that shows whether the proxied content is reached."""
        rows = []
        for name, socket, port, server, host in self._probed(self.config.stream_sockets):
            base = Request(target="/", host=host)
            requests = [base.with_(sni=host, certificate=kind) for kind in self.kinds()
                        if kind != "self-signed-trusted-dn"] if socket.tls else \
                [base.with_(tls=False)]
            rows += [Row(server, name, port, request, self.predict_stream(server, request),
                         request.certificate == "valid", protected=demands(server))
                     for request in requests]
        return rows

    def predict_stream(self, server: StreamServer, request: Request) -> Expect:
        """ngx_stream: access (allow/deny), then the TLS handshake and the certificate check
        (`on` closes a connection without a certificate or with one that fails; `optional`
        one that fails), then proxy_pass or return: the content."""
        reject = server.setting("ssl_reject_handshake")
        if request.tls and reject is not None and reject.value == "on":
            return _at(Expect("handshake-refused", None, f"{server.label}: "
                              "ssl_reject_handshake on"), reject.stmt)
        refusal = stream_refusal(server)
        if refusal is not None:
            return _at(Expect("closed", None, f"{server.label}: `deny` closes the connection"),
                       refusal)
        handler = server.setting("proxy_pass") or server.setting("return")
        if handler is None:
            return Expect("unknown", None, f"{server.label}: neither proxy_pass nor return")
        content = _at(Expect("content", None, f"{server.label}: `{handler.stmt.name} "
                             f"{handler.value}`"), handler.stmt)
        if not request.tls:
            return content
        if server.verify_chain():
            return _at(Expect("unknown", None, f"{server.label}: the proxy_pass target depends "
                              "on $ssl_client_verify through a map"), handler.stmt)
        kind = self._client_kind(server, server, request.certificate)
        if kind is None:
            return Expect("unknown", None, f"the CA files of {server.label} cannot be read here")
        mode = server.verification.mode
        if mode == "on" and kind in ("none", "failed") or mode == "optional" and kind == "failed":
            setting = server.verification.setting
            return _at(Expect("closed", None, f"{server.label}: ssl_verify_client {mode} closes "
                              "the connection of this client", kind=kind),
                       setting.stmt if setting else server.stmt)
        return replace(content, kind=kind)

    def _protects(self, host: str | None, socket: Socket[Server]) -> bool:
        """Whether the configuration demands a certificate for this name: the server that
        answers it does, or another server of the name does (on another port: a twin)."""
        if self._protected is None:
            self._protected = {n.lower() for s in self.config.servers if demands(s)
                               for n in s.names if n}
        answering = select(socket, host or "") or socket.default
        return (host or "").lower() in self._protected or demands(answering)

    def _trusted_name(self, server: Server) -> object:
        """The DN (an x509.Name) of the CA the server expects its clients from, when
        readable; None otherwise."""
        if not server.verifies_clients:
            return None
        cas = self._cas(server) or []
        expected = self.analysis.expected_chains(server)
        for fingerprint, ca in cas:
            if fingerprint in expected:
                return ca.subject  # type: ignore[attr-defined]
        return None

    def requests(self, server: Server, socket: Socket[Server], host: str,
                 uri_budget: int) -> list[Request]:
        flow = self.analysis.flow(server)
        uris, methods = decisive(flow, uri_budget)
        found: list[Request] = []
        for uri in uris:
            for method in methods:
                base = Request(method=method, target=uri, host=host)
                if not socket.tls:
                    found.append(base.with_(tls=False))
                    if uri == uris[0] and method == "GET":
                        found += self._crafted(base.with_(tls=False), socket, server, host)
                    continue
                found += [base.with_(sni=host, certificate=kind) for kind in self.kinds()]
                found += [base.with_(sni=None, certificate=kind)
                          for kind in ("none", "other-ca", "valid") if kind in self.kinds()]
                if uri == uris[0] and method == "GET":
                    found += self._once_per_server(base, socket, server, host)
        return found

    def _once_per_server(self, base: Request, socket: Socket[Server], server: Server,
                         host: str) -> list[Request]:
        found = [base.with_(tls=False)]  # plain HTTP sent to the TLS port: 497
        other = self._other_name(socket, server, host)
        if other is not None:
            found.append(base.with_(sni=other))
        found += self._crafted(base.with_(sni=host), socket, server, host)
        if self.certificates.other is not None and len(socket.servers) > 1:
            found += [base.with_(sni=host, certificate="other-ca", resume_from=""),
                      *([base.with_(sni=host, certificate="other-ca", resume_from=other)]
                        if other else [])]
        return found

    @staticmethod
    def _other_name(socket: Socket[Server], server: Server, host: str) -> str | None:
        """A name another server of the socket answers."""
        return next((probe_name(s, socket) for s in socket.servers if s is not server
                     and probe_name(s, socket) not in (None, host, UNKNOWN_NAME)), None)

    def _crafted(self, base: Request, socket: Socket[Server], server: Server,
                 host: str) -> list[Request]:
        """What a client writes beyond names and certificates: a malformed request (400,
        the error pages decide), a forged address where realip trusts a header, the
        protected name in an absolute URI under another Host, and a connection from a
        Cloudflare address where the configuration decides by source address."""
        found = [base.with_(malformed=True)]
        for address in forged_addresses(server):
            found.append(base.with_(headers=tuple((name, address) for name in ADDRESS_HEADERS)))
        other = self._other_name(socket, server, host)
        if other is not None:
            scheme = "https" if base.tls else "http"
            found.append(base.with_(target=f"{scheme}://{host}{base.target}", host=other,
                                    sni=other if base.tls else None))
        if decides_by_address(server):
            found.append(base.with_(source="cloudflare"))
        return found

    def kinds(self) -> list[str]:
        kinds = ["none", "self-signed", "self-signed-trusted-dn"]
        kinds += [k for k in ("other-ca", "valid") if self.certificates.der(k) is not None]
        return kinds

    # ---------------------------------------------------------------- predictions

    def predict(self, socket: Socket[Server], request: Request) -> Expect:
        if not request.tls:
            return self._plain(socket, request)
        if request.resume_from is not None:
            return self._resumed(socket, request)
        chosen = select(socket, request.sni) if request.sni else None
        handshake = chosen or socket.default
        reject = handshake.setting("ssl_reject_handshake")
        if reject is not None and reject.value == "on":
            return _at(Expect("handshake-refused", None, f"{handshake.label}: "
                              "ssl_reject_handshake on"), reject.stmt)
        host = request.authority or ""
        server = select(socket, host) or socket.default
        if chosen is not None and request.sni != host.lower() and server.verifies_clients:
            setting = server.verification.setting
            return _at(Expect("refused", 421, f"SNI {request.sni} differs from Host {host} "
                              f"and {server.label} verifies clients: 421"),
                       setting.stmt if setting else server.stmt)
        return self._served(handshake, server, request)

    def _resumed(self, socket: Socket[Server], request: Request) -> Expect:
        """A TLS 1.3 session made with `resume_from` as SNI ("" none), resumed with the
        request's SNI (facts §6; resumption.crossing): refused, a full handshake, or the
        request server sees the verification of the server that made the session."""
        full = self.predict(socket, request.with_(resume_from=None))
        maker = (select(socket, request.resume_from) if request.resume_from else None) \
            or socket.default
        named = (select(socket, request.sni) if request.sni else None) or socket.default
        unresumed = self._no_session(socket, maker)
        if unresumed is not None:
            return unresumed
        resumed, _ = resumption.resumes(self.config.known_default(socket), maker)
        if not resumed or maker is named or full.answer == "handshake-refused":
            return full  # a full handshake, or the same server's own session
        state, reason = resumption.crossing(self.target)
        if state == "unknown":
            return Expect("unknown", None, f"resuming across servers: {reason}")
        if state == "full":
            return replace(full, why=f"{reason}; {full.why}")
        if state == "named-refused" and request.resume_from and named.verification.mode \
                in ("on", "optional", "optional_no_ca"):
            setting = named.verification.setting
            return _at(Expect("handshake-refused", None, f"{named.label} verifies clients "
                              f"and the session was made for {request.resume_from}: "
                              f"access_denied ({reason})"),
                       setting.stmt if setting else named.stmt)
        # the session's verification crosses over (CVE-2025-23419, or a session without SNI)
        server = select(socket, request.authority or "") or socket.default
        expect = self._served(maker, server, request)
        return replace(expect, why=f"the session made with {maker.label} is resumed with its "
                       f"verification ({reason}); {expect.why}")

    def _no_session(self, socket: Socket[Server], maker: Server) -> Expect | None:
        """Why there is no TLS 1.3 session to resume (the maker rejects handshakes, TLS 1.3
        is off) or it cannot be told; None: one is made."""
        reject = maker.setting("ssl_reject_handshake")
        if reject is not None and reject.value == "on":
            return _at(Expect("handshake-refused", None, f"{maker.label}: "
                              "ssl_reject_handshake on: no session to resume"), reject.stmt)
        on, protocols = resumption.tls13(self.config.known_default(socket), self.target)
        if on is False:
            return _at(Expect("handshake-refused", None, "TLS 1.3 is off for "
                              f"{socket.name}: the probe resumes TLS 1.3 sessions only"),
                       protocols.stmt if protocols else None)
        if on is None:
            return Expect("unknown", None, f"whether TLS 1.3 is on for {socket.name} depends "
                          "on the nginx version (give --nginx-version)")
        return None

    def _served(self, verifier: Server, server: Server, request: Request) -> Expect:
        """What `server` answers a client whose certificate `verifier` verified (the
        handshake server, or the one that made a resumed session)."""
        kind = self._client_kind(verifier, server, request.certificate)
        if kind is None:
            return Expect("unknown", None, f"the CA files of {verifier.label} or "
                          f"{server.label} cannot be read here")
        # $ssl_client_verify as the verifier left it; $ssl_server_name the SNI sent
        expect = self._simulate(server, self._client(request, kind, verify_value(verifier, kind)),
                                request.path, tls=True)
        return replace(self._names_decide(server, kind, request.certificate, expect),
                       kind=kind)

    def _names_decide(self, server: Server, kind: str, certificate: str,
                      expect: Expect) -> Expect:
        """The flow takes the valid client to pass the server's own tests of names and pins,
        and lets a self-signed client choose its names: this certificate's are what they
        are, so where the server tests them the prediction is "cannot prove"."""
        if not reads_names(server):
            return expect
        if kind == "valid" or certificate == "valid" or expect.content and (
                certificate == "self-signed" or kind == "failed"
                and self.certificates.valid is None):
            return replace(expect, answer="unknown", status=None,
                           why=f"{server.label} tests the certificate's names or fingerprint;"
                               " whether this certificate passes is not modelled")
        return expect

    def _plain(self, socket: Socket[Server], request: Request) -> Expect:
        server = select(socket, request.authority or "") or socket.default
        kind = "tls-port-plain" if socket.tls else "plain"
        return self._simulate(server, self._client(request, kind, ""), request.path,
                              tls=socket.tls)

    @staticmethod
    def _client(request: Request, kind: str, verify: str) -> Client:
        """The flow's client for what this request sends."""
        return Client("malformed" if request.malformed else kind, verify,
                      request.source == "cloudflare", request.method,
                      sni=request.sni or "" if request.tls else None, headers=request.headers)

    def _simulate(self, server: Server, client: Client, uri: str, tls: bool) -> Expect:
        result = self.analysis.flow(server).simulator.request(client, uri, tls=tls)
        outcome = result.witness
        stmt = outcome.stmt or next((s.stmt for s in reversed(outcome.trace)
                                     if s.stmt is not None), None) or server.stmt
        where = f"{server.label}: {outcome.describe()}"
        if result.verdict == MAYBE or outcome.kind == "unknown":
            reason = outcome.reason or "it depends on something the configuration does not tell"
            return _at(Expect("unknown", None, f"{server.label}: {reason}"), stmt)
        if result.verdict == YES:
            chosen = _client_chosen(outcome.trace)
            if chosen is not None:
                return _at(Expect("unknown", None, f"{server.label}: content for a client "
                                  f"that sends what the configuration tests ({chosen}); this "
                                  "request does not"), stmt)
            static = outcome.stmt is None or outcome.stmt.name in ("root", "alias") or \
                outcome.through("try_files") is not None
            return _at(Expect("content", outcome.status or 200, where, files=static), stmt)
        answer = {"reject": "refused", "errorfile": "refused", "redirect": "redirect",
                  "text": "text", "close": "closed"}.get(outcome.kind, "refused")
        # a try_files fallback (=404) is taken only when the files are missing
        return _at(Expect(answer, outcome.status, where,
                          files=outcome.through("try_files") is not None), stmt)

    def _client_kind(self, handshake: TlsServer, server: TlsServer, certificate: str
                     ) -> str | None:
        """What the handshake left for the request server: the flow's client kind."""
        if certificate == "none" or not handshake.verifies_clients:
            return "none"  # no certificate asked for, none sent
        if certificate in ("self-signed", "self-signed-trusted-dn"):
            return "failed"
        der = self.certificates.der(certificate)
        verified = self._issued_by(handshake, der)
        if verified is None:
            return None
        if not verified:
            return "failed"
        expected = self._issued_by(server, der, expected=True)
        if expected is None:
            return None
        return "valid" if expected else "other-ca"

    def _issued_by(self, server: TlsServer, der: bytes | None, expected: bool = False
                   ) -> bool | None:
        """Whether a CA of the server's client or trusted CA files (with `expected`: of the
        chains it expects) issued the certificate directly; None: the files cannot be read."""
        if der is None:
            return False
        cas = self._cas(server)
        if cas is None:
            return None
        from cryptography import x509
        from cryptography.exceptions import InvalidSignature

        client = x509.load_der_x509_certificate(der)
        allowed = self.analysis.expected_chains(server) if expected else None
        for fingerprint, ca in cas:
            if allowed is not None and fingerprint not in allowed:
                continue
            try:
                client.verify_directly_issued_by(ca)  # type: ignore[arg-type]
                return True
            except (ValueError, TypeError, InvalidSignature):  # not issued by this CA
                continue
        return False

    def _cas(self, server: TlsServer) -> list[tuple[str, object]] | None:
        if id(server) not in self._issuers:
            from cryptography import x509

            found: list[tuple[str, object]] = []
            for _, setting in server.client_ca_settings():
                ca = self.analysis.ca_file(server, setting)
                if ca.missing or ca.unavailable or ca.problem:
                    return None
                with open(ca.path, "rb") as f:
                    for cert in x509.load_pem_x509_certificates(f.read()):
                        digest = hashlib.sha256(cert.public_bytes(
                            _der_encoding())).hexdigest().upper()
                        found.append((digest, cert))
            self._issuers[id(server)] = found
        return self._issuers[id(server)]


def _client_chosen(trace) -> str | None:
    """The first branch the path takes on something the request decides beyond its method,
    URI and Host (a header, an argument, a forged address): the flow lets the client choose
    it, the probe's request does not."""
    for step in trace:
        if step.stmt is None and not step.label.startswith(FIXED_STEPS):
            return step.label
    return None


FIXED_STEPS = ("malformed request", "plain HTTP sent to the TLS port", "no location matches")


# A direct client claims an address in every header realip may read (as the label harness
# does): one inside each range an allow list names, and a Cloudflare edge address.
ADDRESS_HEADERS = ("CF-Connecting-IP", "X-Forwarded-For", "X-Real-IP")
MAX_FORGED = 2


def forged_addresses(server: Server) -> list[str]:
    """Addresses worth forging where realip takes the client address from a header."""
    header = server.setting("real_ip_header")
    if header is None or header.value.lower() not in {h.lower() for h in ADDRESS_HEADERS} \
            or not server.settings("set_real_ip_from"):
        return []
    found = [CLOUDFLARE_ADDRESS]
    for stmt in access_rules(server):
        if stmt.name == "allow" and stmt.args and stmt.args[0] != "all":
            try:
                network = ipaddress.ip_network(stmt.args[0], strict=False)
            except ValueError:
                continue
            address = str(network.network_address + (1 if network.num_addresses > 1 else 0))
            if address not in found:
                found.append(address)
    return found[:MAX_FORGED]


def decides_by_address(server: Server) -> bool:
    """The configuration answers by the connection's address: allow/deny, realip's trusted
    sources, or a geo block."""
    return bool(access_rules(server) or server.settings("set_real_ip_from")
                or server.http.geos())


def access_rules(server: Server) -> list[Stmt]:
    """Every allow and deny of the server, its locations and its http {} level."""
    from ..model import walk

    return [s for s in walk(server.stmt.block) if s.name in ("allow", "deny")] + \
        server.http.all("allow") + server.http.all("deny")


def demands(server: TlsServer) -> bool:
    """The server demands a client certificate: it verifies clients against a CA, or
    Cloudflare fronts it (`optional_no_ca` without a CA hands any certificate to its
    application)."""
    mode = server.verification.mode
    return mode in ("on", "optional") or bool(server.cloudflare and server.cloudflare.fronted) \
        or mode == "optional_no_ca" and bool(server.client_ca_settings())


def reads_names(server: Server) -> bool:
    """Whether the server tests a certificate's names ($ssl_client_s_dn, _i_dn, ...)."""
    from ..model import walk

    texts = [" ".join(s.args) for s in walk(server.stmt.block)]
    texts += [m.source for m in server.maps.values()]
    return any(re.search(r"ssl_client_(s_dn|i_dn|serial|fingerprint)", t) for t in texts)


def _der_encoding():
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER


def _at(expect: Expect, stmt: Stmt | None) -> Expect:
    if stmt is None:
        return expect
    return replace(expect, file=stmt.file, line=stmt.line)


def decisive(flow: ServerFlow, budget: int) -> tuple[list[str], list[str]]:
    """"/" and the URIs where a client without a valid certificate gets (or may get) content;
    GET, plus HEAD and OPTIONS ("another method", safe) where the configuration tells
    methods apart."""
    uris = ["/"]
    kinds = ("none", "failed", "other-ca")
    server = flow.server
    plain = any(listen.socket not in server.tls_on for listen in server.listens)
    paths = flow.open_paths(kinds) + flow.unsure_paths(kinds) if server.tls_on else []
    if plain:
        paths += flow.open_paths(("plain",), tls=False)
    for path in paths:
        if path.uri not in uris and _sendable(path.uri):
            uris.append(path.uri)
    methods = ["GET"]
    if len(flow.methods()) > 1:
        methods += ["HEAD", "OPTIONS"]
    return uris[:budget], methods


def _sendable(uri: str) -> bool:
    return bool(re.fullmatch(r"/[\x21-\x7e]*", uri))


def probe_name(server: Server, socket: Socket[Server]) -> str | None:
    """A name a client can send that this server answers: an exact name, a wildcard filled
    in; else one of its names another server answers first (a shadowed name: what the
    client gets there is the point); an unknown name for a default server without one."""
    shadowed = None
    for name in server.names:
        text = name.lower()
        if not text or text == "_" or text.startswith("~") or "$" in text:
            continue
        if text.startswith("*."):
            text = WILDCARD_LABEL + text[1:]
        elif text.startswith("."):
            text = text[1:]
        elif text.endswith(".*"):
            text = text[:-1] + "invalid"
        if "*" in text or name_problem(text):
            continue
        if select(socket, text) is server:
            return text
        shadowed = shadowed or text
    if socket.default is server and select(socket, UNKNOWN_NAME) is None:
        return UNKNOWN_NAME
    return shadowed


def select(socket: Socket[Server], name: str) -> Server | None:
    """The server nginx picks for a name on this socket (ngx_http_find_virtual_server):
    exact, then the longest leading wildcard, then the longest trailing one, then the first
    regex that matches; None: the default server answers."""
    name = name.lower().rstrip(".")
    found = socket.answering(name)
    if found is not None:
        return found
    labels = name.split(".")
    for i in range(1, len(labels)):
        found = socket.answering("*." + ".".join(labels[i:]))
        if found is not None:
            return found
    for i in range(len(labels) - 1, 0, -1):
        found = socket.answering(".".join(labels[:i]) + ".*")
        if found is not None:
            return found
    from .. import pcre

    for server, _ in socket.entries:
        for each in server.names:
            if each.startswith("~"):
                regex = pcre.compile(each[1:])
                if regex is not None and regex.search(name):
                    return server
    return None


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _wildcard(listen_host: str) -> bool:
    return listen_host in ("0.0.0.0", "[::]", "*")


def _maps_onto(listen_host: str, target: str, dual: bool = False) -> bool:
    """A listen on every address of the target's family (or on loopback, for a loopback
    target) maps onto the target; one on a specific address only when it is the target's.
    (`listen [::]:443` is IPv6 only: nginx sets ipv6only, unless `ipv6only=off`.)"""
    ipv6 = ":" in target
    if _wildcard(listen_host):
        return listen_host.startswith("[") == ipv6 or dual and listen_host == "[::]"
    if listen_host.startswith("[") != ipv6:
        return False
    if is_loopback(listen_host + ":0") and _loopback(target):
        return True
    try:
        return ipaddress.ip_address(listen_host.strip("[]")) == ipaddress.ip_address(target)
    except ValueError:
        return listen_host == target
