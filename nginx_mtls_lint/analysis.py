"""One analysis per run: every answer about a server that more than one command needs.

Built once per run from the CA store, the options and the nginx judged for (the model comes
from lint.analyse, Cloudflare detection included); `analysis.of(server)` answers what verifies
the server's clients (trust), the certificates on the expected clients' chains, the CRLs'
verdicts, Cloudflare detection, and the request flow. `lint`'s rules (through RuleContext),
`trace` and `inspect` all read it, so that they cannot disagree: the flow of a server is built
once, with the issuers its CA files name."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Sequence

from .cafile import CAFile, CAStore
from .cloudflare import AOP_CAS, matching_name
from .flow import MAYBE, NO, YES, Client, Path, ServerFlow, Verdict
from .flow.questions import verify_value
from .model import Server, TlsServer
from .records import Detection, Setting, Verification
from .trust import CrlVerdict, TrustSet, security_level
from .versions import UNKNOWN, Target

__all__ = ["Analysis", "ServerAnalysis", "Path", "Verdict", "YES", "NO", "MAYBE", "KINDS"]

# The clients `trace` can follow, in the flow's vocabulary.
KINDS = ("none", "failed", "other-ca", "valid", "plain")


@dataclass(slots=True)
class Analysis:
    """Every answer about the servers of one run, each computed on first use and kept."""

    cas: CAStore = field(default_factory=CAStore)
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))
    # (server_name pattern, fingerprints) for zone-level or per-hostname AOP certificates.
    expected_cas: list[tuple[str, frozenset[str]]] = field(default_factory=list)
    target: Target = UNKNOWN
    crl_warning_hours: int = 24
    # CA/CRL files not available in this checkout: path -> (first directive, servers' ids)
    unavailable: dict[str, tuple[Setting, dict[int, TlsServer]]] = field(default_factory=dict)
    _trust: dict[int, TrustSet] = field(default_factory=dict)  # per server
    _trust_by_files: dict[tuple[object, ...], TrustSet] = field(default_factory=dict)  # per set of files
    _expected: dict[int, frozenset[str]] = field(default_factory=dict)  # per server
    _crl_verdicts: dict[int, list[CrlVerdict]] = field(default_factory=dict)  # per server
    _flows: dict[int, ServerFlow] = field(default_factory=dict)  # per server, once

    def of(self, server: TlsServer) -> "ServerAnalysis":
        return ServerAnalysis(self, server)

    def flows(self) -> list[ServerFlow]:
        """The request flows built so far (the servers a question was asked about)."""
        return list(self._flows.values())

    def flow(self, server: Server) -> ServerFlow:
        """The request-flow answers for a server (simulated on first use, then kept), with
        the issuers its CA files name (what $ssl_client_i_dn shows for the valid client)."""
        found = self._flows.get(id(server))
        if found is None:
            found = self._flows[id(server)] = ServerFlow(server, self.issuers(server))
        return found

    def issuers(self, server: TlsServer) -> frozenset[str]:
        """The names (RFC 2253) of the CAs that may issue the valid client's certificate."""
        if not server.verifies_clients:
            return frozenset()
        return frozenset(c.subject for c in self.trust(server).members(
            self.expected_chains(server)))

    def ca_file(self, server: TlsServer, setting: Setting) -> CAFile:
        path = server.tree.resolve(setting.value)
        if not server.tree.elsewhere(setting.value):
            return self.cas.inspect(path)
        ca = self.cas.not_here(path)
        self.unavailable.setdefault(ca.path, (setting, {}))[1][id(server)] = server
        return ca

    def trust(self, server: TlsServer) -> TrustSet:
        """The X509 store that verifies a server's clients: its client and trusted CA files,
        built once per distinct set of files (and OpenSSL security level, from ssl_ciphers)."""
        found = self._trust.get(id(server))
        if found is None:
            sources = tuple((directive, self.ca_file(server, setting))
                            for directive, setting in server.client_ca_settings())
            ciphers = server.setting("ssl_ciphers")
            level = security_level(ciphers.value if ciphers is not None else None)
            key = (level, *((directive, id(ca)) for directive, ca in sources))
            found = self._trust_by_files.get(key)
            if found is None:
                found = self._trust_by_files[key] = TrustSet(sources, level)
            self._trust[id(server)] = found
        return found

    def expected_chains(self, server: TlsServer) -> frozenset[str]:
        """The fingerprints on the chains of the clients the server is meant for: the CAs
        declared for it (`expected-cas`, a root or an issuing intermediate), else Cloudflare's
        origin-pull CA for a Cloudflare-fronted server holding it, else what its
        ssl_client_certificate holds; with the roots above and the intermediates below them."""
        found = self._expected.get(id(server))
        if found is None:
            trust = self.trust(server)
            present = {c.sha256 for c in trust.certs}
            seeds: frozenset[str] | set[str] = self.expected_for(server) & present
            if not seeds and server.cloudflare is not None and server.cloudflare.fronted:
                seeds = AOP_CAS.keys() & present
            if not seeds:
                advertised = [ca for d, ca in trust.sources if d == "ssl_client_certificate"]
                seeds = {c.sha256 for ca in advertised or [ca for _, ca in trust.sources]
                         for c in ca.certs}
            found = self._expected[id(server)] = trust.hierarchy(seeds)
        return found

    def crl(self, server: TlsServer) -> tuple[Setting, CAFile] | None:
        """The server's `ssl_crl` and its file, when it has one."""
        setting = server.setting("ssl_crl")
        if setting is None or not setting.stmt.args:
            return None
        return setting, self.ca_file(server, setting)

    def crl_verdicts(self, server: TlsServer) -> list[CrlVerdict]:
        """How the CRLs in effect (the ssl_crl file's, and any in the CA files: OpenSSL loads
        those too) judge each CA on the expected chains; empty without a usable ssl_crl."""
        found = self._crl_verdicts.get(id(server))
        if found is None:
            crl, trust = self.crl(server), self.trust(server)
            found = []
            if crl is not None and crl[1].crl_problem is None and trust.readable:
                crls = crl[1].crls + [c for _, ca in trust.sources for c in ca.crls]
                found = trust.crl_verdicts(self.expected_chains(server), crls, self.now,
                                           dt.timedelta(hours=self.crl_warning_hours))
            self._crl_verdicts[id(server)] = found
        return found

    def expected_for(self, server: TlsServer) -> frozenset[str]:
        """The fingerprints declared (expected-cas) for a server's names."""
        found: set[str] = set()
        for pattern, fingerprints in self.expected_cas:
            if pattern == "*" or matching_name(server, pattern):  # "*": nameless ones too
                found |= fingerprints
        return frozenset(found)


@dataclass(frozen=True, slots=True)
class ServerAnalysis:
    """The analysis's answers for one server."""

    analysis: Analysis
    server: TlsServer

    @property
    def verification(self) -> Verification:
        return self.server.verification

    @property
    def cloudflare(self) -> Detection:
        return self.server.cloudflare

    @property
    def trust(self) -> TrustSet:
        return self.analysis.trust(self.server)

    @property
    def expected_chains(self) -> frozenset[str]:
        return self.analysis.expected_chains(self.server)

    @property
    def crl_verdicts(self) -> list[CrlVerdict]:
        return self.analysis.crl_verdicts(self.server)

    @property
    def flow(self) -> ServerFlow:
        assert isinstance(self.server, Server), "the request flow is http {}'s"
        return self.analysis.flow(self.server)

    def default_kinds(self) -> list[str]:
        """The clients worth following: those the verify mode may let past the handshake,
        the valid one, and plain HTTP where the server listens without TLS."""
        kinds = ["none", "failed", "valid"]
        if isinstance(self.server, Server) and self.server.exposed_plain_listens:
            kinds.append("plain")
        return kinds

    def requests(self, uris: Sequence[str], kinds: Sequence[str] | None = None,
                 methods: Sequence[str] = ("GET",),
                 vias: Sequence[bool | None] = (None,)) -> list[Path]:
        """One request per source, method, URI and kind of client (default_kinds() when
        None): plain HTTP for "plain", TLS otherwise; through Cloudflare or directly, or
        (None) the valid client as the server expects it (through Cloudflare for a
        Cloudflare-fronted server) and the others directly."""
        return [self.request(uri, kind, method, via)
                for via in dict.fromkeys(vias) for method in dict.fromkeys(methods)
                for uri in dict.fromkeys(uris) for kind in kinds or self.default_kinds()]

    def request(self, uri: str, kind: str, method: str = "GET",
                via_cloudflare: bool | None = None) -> Path:
        via = via_cloudflare if via_cloudflare is not None else \
            kind == "valid" and bool(self.cloudflare and self.cloudflare.fronted)
        client = Client(kind, verify_value(self.server, kind, kind != "plain"), via, method)
        return Path(client, uri, self.flow.simulator.request(client, uri, kind != "plain"))
