"""Rule API and the built-in rule list.

A rule is a small class: metadata as class attributes, its documentation as the docstring
(summary line, then `## Why`, `## Example`, `## Fix` sections, rendered into rules/ID.md), and
one or more check methods, each a generator over one kind of subject of the model. The engine
(lint.py) calls them once per subject and owns everything around: focus, suppressions,
grouping one cause into one finding, identities, a rule that raises.
"""

from __future__ import annotations

import datetime as dt
import inspect
import re
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Iterable

from ..analysis import Analysis
from ..cafile import CAFile, CAStore
from ..findings import Finding, Fix, Related, ServerRef, Step
from ..flow import CLOSED_BY_VERIFY_ON, UPSTREAM, Cause, Path, ServerFlow
from ..model import (Config, ErrorPage, Server, Setting, Socket, StreamServer,
                     TlsServer)
from ..parser import Stmt
from ..trust import CrlVerdict, TrustSet
from ..verify import VerifyMode
from ..versions import UNKNOWN, Target

RULE_ID = re.compile(r"^[A-Z]{2,8}[0-9]{3}$")
RULE_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
# Directives naming a file whose problems are the file's, whichever server names it.
FILE_DIRECTIVES = {"ssl_client_certificate", "ssl_trusted_certificate", "ssl_crl"}


@dataclass(slots=True)
class RuleContext:
    """What every rule may use besides the model: the options, and a view of the run's
    analysis (analysis.py), which `trace` and `inspect` read too."""

    cas: CAStore = field(default_factory=CAStore)
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))
    expiry_warning_days: int = 30
    # (server_name pattern, fingerprints) for zone-level or per-hostname AOP certificates.
    expected_cas: list[tuple[str, frozenset[str]]] = field(default_factory=list)
    # The nginx judged for (--nginx-version, `nginx -V` in a dump, this machine's nginx).
    target: Target = UNKNOWN
    # (file, line) -> the text of that line, for fix builders that need columns; the engine
    # sets it to the reporters' own reader (each file read once). None: no structured fixes.
    source: Callable[[str | None, int | None], str | None] | None = None
    crl_warning_hours: int = 24
    _analysis: Analysis | None = field(default=None, init=False, repr=False)

    @property
    def analysis(self) -> Analysis:
        """The run's analysis, built from these options on first use."""
        if self._analysis is None:
            self._analysis = Analysis(self.cas, self.now, self.expected_cas, self.target,
                                      self.crl_warning_hours)
        return self._analysis

    @property
    def unavailable(self) -> dict[str, tuple[Setting, dict[int, TlsServer]]]:
        """CA/CRL files not available in this checkout: path -> (first directive, servers)."""
        return self.analysis.unavailable

    def flow(self, server: Server) -> ServerFlow:
        """The request-flow answers for a server (simulated on first use, then kept)."""
        return self.analysis.flow(server)

    def ca_file(self, server: TlsServer, setting: Setting) -> CAFile:
        return self.analysis.ca_file(server, setting)

    def trust(self, server: TlsServer) -> TrustSet:
        """The X509 store that verifies a server's clients (Analysis.trust)."""
        return self.analysis.trust(server)

    def trust_set(self, server: TlsServer) -> frozenset[str]:
        """What verifies a server's client certificates: the anchored CAs of its client and
        trusted CA files, or a file's real path where it cannot be read."""
        return self.analysis.trust(server).admits

    def expected_chains(self, server: TlsServer) -> frozenset[str]:
        """The fingerprints on the expected clients' chains (Analysis.expected_chains)."""
        return self.analysis.expected_chains(server)

    def crl(self, server: TlsServer) -> tuple[Setting, CAFile] | None:
        """The server's `ssl_crl` and its file, when it has one."""
        return self.analysis.crl(server)

    def crl_verdicts(self, server: TlsServer) -> list[CrlVerdict]:
        """How the CRLs in effect judge each CA on the expected chains."""
        return self.analysis.crl_verdicts(server)

    def expected_for(self, server: TlsServer) -> frozenset[str]:
        return self.analysis.expected_for(server)


class Rule:
    id: ClassVar[str] = ""
    name: ClassVar[str] = ""
    severity: ClassVar[str] = "error"
    tags: ClassVar[tuple[str, ...]] = ("security",)
    precision: ClassVar[str] = "high"
    security_severity: ClassVar[str] = "8.0"
    origin: ClassVar[str] = "built-in"
    # The causes of open paths (flow.Cause) this rule reports: each belongs to one rule, and
    # owned_paths() hands the rule the paths that got to content for one of them.
    causes: ClassVar[frozenset[Cause]] = frozenset()

    # The check methods. A rule defines those it needs; the engine calls each once per
    # subject of its kind, in configuration order, and a subject whose check raises is
    # reported (MTLS909) without stopping the others.

    def check_tls_server(self, server: TlsServer, ctx: RuleContext) -> Iterable[Finding]:
        """Each server that can verify clients: http {} and stream {} (the TLS part)."""
        return ()

    def check_server(self, server: Server, ctx: RuleContext) -> Iterable[Finding]:
        """Each http {} server (locations, handlers, error pages, the request flow)."""
        return ()

    def check_stream_server(self, server: StreamServer, ctx: RuleContext) -> Iterable[Finding]:
        """Each stream {} server."""
        return ()

    def check_socket(self, socket: Socket[Server], config: Config,
                     ctx: RuleContext) -> Iterable[Finding]:
        """Each listen address:port of http {} with the servers on it."""
        return ()

    def check_stream_socket(self, socket: Socket[StreamServer], config: Config,
                            ctx: RuleContext) -> Iterable[Finding]:
        """Each listen address:port of stream {}."""
        return ()

    def check(self, config: Config, ctx: RuleContext) -> Iterable[Finding]:
        """The whole configuration, once: checks across every statement or server (and the
        one method of plugins written for the first rule API, which keep working)."""
        return ()

    def owned_paths(self, server: Server, ctx: RuleContext, kinds: tuple[str, ...],
                    tls: bool = True, unsure: bool = False) -> list[Path]:
        """The paths on which clients of these kinds get content for a cause of this rule's;
        with `unsure`, those that may get it too."""
        flow = ctx.flow(server)
        found = flow.open_paths(kinds, tls, causes=self.causes)
        return found + flow.unsure_paths(kinds, tls, causes=self.causes) if unsure else found

    @classmethod
    def doc(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def summary(cls) -> str:
        return cls.doc().split("\n", 1)[0].strip()

    def finding(self, at: Stmt, message: str, fix: str | None, server: TlsServer | None = None,
                severity: str | None = None, *, related: Iterable[Related] = (),
                fixes: Iterable[Fix] = (), trace: Iterable[Step] = ()) -> Finding:
        """A finding at `at`. `fix` is the fix as text (always shown); `fixes` the same as
        edits (rules/fixes.py builds them), `related` the evidence elsewhere, `trace` the
        path a request takes to the hole."""
        ref = cause = None
        if server is not None:
            ref = ServerRef([n for n in server.names if n], server.file, server.line)
            if at.name in FILE_DIRECTIVES and at.args:  # one CA file: one cause, any directive
                cause = server.tree.resolve(at.args[0])
        here = (at.file, at.line)
        shown = list(dict.fromkeys(r for r in related if (r.file, r.line) != here))
        return Finding(self.id, self.name, severity or self.severity, message, at.file, at.line,
                       ref, fix, related=shown, fixes=list(fixes), trace=list(trace),
                       directive=" ".join([at.name, *at.args]), cause=cause, statement=at)


def optional_in_scope(server: Server) -> bool:
    """Servers whose `optional` / `optional_no_ca` verification MTLS002 and MTLS006 judge:
    Cloudflare-fronted and reachable; any reachable server whose own checks show that it
    means to keep clients without a valid certificate out; any server where nothing reads
    the result of `optional_no_ca`, or of `optional` on a reachable server (a valid
    certificate and none get the same: the verification protects nothing)."""
    mode = server.verification.mode
    if not server.verification.verify_mode.lets_unverified_in or not server.serves_tls:
        return False
    if server.cloudflare.fronted:
        return server.exposed_tls
    if not server.reads_client_verification():
        return mode == "optional_no_ca" or server.exposed_tls
    return server.exposed_tls and server.written_check() is not None


def flow_open(ctx: RuleContext, server: Server, mode: str) -> bool:
    """Whether a client the mode lets past the handshake reaches content on some path that
    is not an error page's (those are MTLS104's: `on` would not close them)."""
    return bool(ctx.flow(server).open_paths(VerifyMode.of(mode).followed_kinds,
                                            causes=CLOSED_BY_VERIFY_ON))


def certificate_check(path: Path, server: Server, passed: bool = True) -> Stmt | None:
    """The last `if` on this path that tests the client certificate (directly, through a map
    or a `set` variable) and let the request go past (passed), or stopped it (not passed)."""
    return path.check_on_path(server, passed)


def unmodelled_at(path: Path) -> Stmt | None:
    """The directive whose decision rests on what the analysis does not model (the `if`
    with a file test, the module handler), when the path's reason names one."""
    return getattr(path.outcome.reason, "stmt", None)


def unmodelled_evidence(path: Path) -> list[Related]:
    """Where the construct the path's answer rests on is written, and the directive that
    decides on it (related locations)."""
    reason = path.outcome.reason
    found = []
    origin, decided = getattr(reason, "origin", None), getattr(reason, "stmt", None)
    if origin is not None:
        found.append(Related(origin.file, origin.line,
                             f"`{origin.name}`: not modelled by the analysis"))
    if decided is not None and decided is not origin:
        found.append(Related(decided.file, decided.line, "decides on it"))
    return found


def served(path: Path) -> str:
    """What the path ends in, in words; where it is written goes to served_evidence()."""
    outcome = path.outcome
    stmt = outcome.stmt
    if stmt is None:
        return "the site's content"
    what = "the application" if stmt.name in UPSTREAM else "the site's files"
    return f"{what} ({quoted(stmt)})"


def served_evidence(path: Path) -> list[Related]:
    """The directive that serves the content a path ends in, as a related location."""
    stmt = path.outcome.stmt
    return [] if stmt is None else [Related(stmt.file, stmt.line, f"serves {quoted(stmt)}")]


def quoted(stmt: Stmt) -> str:
    """A directive as a message names it: `name args`."""
    return f"`{' '.join([stmt.name, *stmt.args])}`"


def open_locations(server: Server, paths: Iterable[Path]) -> list[Related]:
    """Each place (a location, or the server for URIs no location matches) where one of
    these paths got to content, once, as related locations in the order found."""
    found: dict[int, Related] = {}
    for path in paths:
        location = path.outcome.location
        at = location.stmt if location is not None else server.stmt
        if id(at) not in found:
            place = (f"`location {location.label}`" if location is not None
                     else f"{path.uri} (matches no location)")
            found[id(at)] = Related(at.file, at.line,
                                    f"open: {place}: {path.client.label} gets {served(path)}")
    return list(found.values())


def finding_trace(path: Path) -> list[Step]:
    """The request's path as a finding's trace: every directive it went through."""
    steps = []
    for step in path.outcome.trace:
        file, line = step.where
        if file is not None and line is not None:
            steps.append(Step(file, line, step.label))
    return steps


def inherited_from_http(server: Server, stmt: Stmt) -> list[Related]:
    """The server a statement written in http {} applies to, as a related location."""
    if stmt in server.http.all(stmt.name):
        return [Related(server.file, server.line, f"{server.title} inherits it from http {{}}")]
    return []


def trace_text(path: Path, limit: int = 6) -> str:
    """The directives the request went through, briefly."""
    steps = [s for s in path.outcome.trace if s.stmt is not None or s.label]
    shown = [s.label for s in steps[:limit]]  # where each is: the finding's trace
    if len(steps) > limit:
        shown.append("...")
    return "; ".join(shown) or "no directive on the way"


def inherited(item: Setting | ErrorPage | Stmt) -> str:
    """` (inherited from http {})` for a value a server takes from the block around it.
    Messages say what and why, never where: the location goes to `related` (evidence())."""
    if isinstance(item, Stmt) or not item.inherited:
        return ""
    return f" (inherited from {_context(item)} {{}})"


def _context(item: Setting | ErrorPage) -> str:
    return item.context if isinstance(item, Setting) else "http"


def evidence(item: Setting | ErrorPage | Stmt, label: str) -> Related:
    """A related location for a directive; one inherited from http {} says so."""
    stmt = item if isinstance(item, Stmt) else item.stmt
    if not isinstance(item, Stmt) and item.inherited:
        label += f" (inherited from {_context(item)} {{}})"
    return Related(stmt.file, stmt.line, label)


def cloudflare_evidence(server: TlsServer) -> list[Related]:
    """Every Cloudflare signal of a server that is written somewhere (not command-line ones)."""
    return [Related(s.file, s.line, "Cloudflare signal: " + s.detail +
                    (" (inherited from http {})" if s.inherited else ""))
            for s in server.cloudflare.signals if s.file and s.line]


def relay_evidence(server: TlsServer) -> list[Related]:
    """The stream {} servers that relay connections from other hosts to a loopback socket of
    the server (ssl_preread, a TCP relay): why it counts as reachable."""
    forwarded = server.config.forwarded
    return [Related(relay.file, relay.line,
                    f"{relay.label} relays connections from other hosts to {socket}")
            for socket in server.tls_on or [listen.socket for listen in server.listens]
            if (relay := forwarded.get(socket)) is not None]


def inherits(server: TlsServer, setting: Setting | ErrorPage | None) -> list[Related]:
    """The server a setting from http {} (or stream {}) applies to, as a related location."""
    if setting is None or not setting.inherited:
        return []
    return [Related(server.file, server.line,
                    f"{server.title} inherits it from {_context(setting)} {{}}")]


def ca_evidence(server: TlsServer) -> list[Related]:
    """The files that verify a server's client certificates."""
    labels = {"ssl_client_certificate": "client CA file",
              "ssl_trusted_certificate": "trusted CA file (verifies clients too)"}
    return [evidence(setting, f"{labels[name]} {setting.value}")
            for name, setting in server.client_ca_settings()]


def builtin_rules() -> list[type[Rule]]:
    from . import (
        mtls001_cf_vhost_without_mtls,
        mtls002_verify_client_not_on,
        mtls003_client_ca_unusable,
        mtls004_client_ca_stale,
        mtls005_client_ca_mismatch,
        mtls006_rejection_handler_missing,
        mtls007_handler_rejects_valid_clients,
        mtls008_client_chain_unverifiable,
        mtls009_unknown_directive,
        mtls010_unknown_variable,
        mtls011_client_name_check_too_broad,
        mtls101_plaintext_bypass,
        mtls102_shared_socket_ca_confusion,
        mtls103_default_server_exposes_origin,
        mtls104_error_page_bypass,
        mtls105_session_resumption_bypass,
        mtls106_shadowed_server_name,
        mtls107_spoofable_client_address,
        mtls108_unverified_tls_twin,
        mtls109_ingress_host_scope,
        mtls914_cannot_prove,
    )

    return [
        mtls001_cf_vhost_without_mtls.CfVhostWithoutMtls,
        mtls002_verify_client_not_on.VerifyClientNotOn,
        mtls003_client_ca_unusable.ClientCaUnusable,
        mtls004_client_ca_stale.ClientCaStale,
        mtls005_client_ca_mismatch.ClientCaMismatch,
        mtls006_rejection_handler_missing.RejectionHandlerMissing,
        mtls007_handler_rejects_valid_clients.HandlerRejectsValidClients,
        mtls008_client_chain_unverifiable.ClientChainUnverifiable,
        mtls009_unknown_directive.UnknownDirective,
        mtls010_unknown_variable.UnknownVariable,
        mtls011_client_name_check_too_broad.ClientNameCheckTooBroad,
        mtls101_plaintext_bypass.PlaintextBypass,
        mtls102_shared_socket_ca_confusion.SharedSocketCaConfusion,
        mtls103_default_server_exposes_origin.DefaultServerExposesOrigin,
        mtls104_error_page_bypass.ErrorPageBypass,
        mtls105_session_resumption_bypass.SessionResumptionBypass,
        mtls106_shadowed_server_name.ShadowedServerName,
        mtls107_spoofable_client_address.SpoofableClientAddress,
        mtls108_unverified_tls_twin.UnverifiedTlsTwin,
        mtls109_ingress_host_scope.IngressHostScope,
        mtls914_cannot_prove.CannotProve,
    ]
