from __future__ import annotations

from typing import Iterator

from .. import resumption
from ..findings import Finding, Related
from ..flow import YES
from ..model import Config, Server, Socket, StreamServer, TlsServer
from ..versions import Target, Verdict
from . import Rule, RuleContext, ca_evidence, evidence, finding_trace, inherited, served

CVE = "CVE-2025-23419"
STREAM_SERVERS_SINCE = "1.25.5"  # virtual servers (server_name) in stream {}


class SessionResumptionBypass(Rule):
    """Servers on one address:port verify different client CAs and TLS 1.3 sessions cross between them (CVE-2025-23419).

    ## Why
    On nginx affected by CVE-2025-23419 (upstream 1.11.4 to 1.27.3, except 1.26.3 and later
    1.26.x), a client holding a certificate from the CA of *one* server makes a TLS 1.3
    session with that server's name (SNI), then resumes the session with the SNI of another
    server on the same address:port. The resumed handshake carries the first certificate's
    verification result: the protected server sees `$ssl_client_verify = SUCCESS` and
    serves its content, whatever CA it trusts. An `ssl_reject_handshake on` default server
    does not stop it, nor does `optional` with a `!= SUCCESS` check.

    Reported when two or more servers on one address:port verify clients (`on`,
    `optional`, `optional_no_ca`) against different CA sets (client plus trusted CA files),
    TLS 1.3 is on for that socket and sessions can be resumed. Before nginx 1.29.2 the
    handshake's protocol and session handling come from the socket's *default server*,
    not from the server the SNI names (verified on 1.26.2):
    - TLS 1.3: the default server's `ssl_protocols`, else the version's default (TLS 1.3 is
      on by default from 1.23.4; Debian's 1.22.1 has TLS 1.2 only by default);
    - resumption: session tickets (on by default) when both the default server and the
      server that made the session leave `ssl_session_tickets` on, or an
      `ssl_session_cache` other than `off`/`none` in the default server.

    An error when the target nginx is affected, a warning when its version or patch level
    is unknown (give `--nginx-version`, or pipe `nginx -V` before `nginx -T`), nothing when
    it is fixed: 1.26.3+, 1.27.4+, and distribution packages known to carry the fix
    (Debian 12 1.22.1-9+deb12u9, Ubuntu 20.04 1.18.0-0ubuntu1.7, 22.04 1.18.0-6ubuntu14.6,
    24.10 1.26.0-2ubuntu3.2). A fixed nginx up to 1.29.1 still resumes a session made
    *without* SNI on a default server that verifies another CA: that is MTLS102's case.
    A server-level check of the issuer or certificate fingerprint
    (`if ($ssl_client_i_dn != "...") { return 403; }`) in the protected server silences it.
    `stream {}` servers on one address:port (virtual servers, nginx 1.25.5 and later) are
    judged the same way, with the stream's own protocol and session settings.

    ## Example
    ```nginx
    server {
        listen 443 ssl default_server;
        ssl_reject_handshake on;  # does not help
    }
    server {
        listen 443 ssl;  # expect: MTLS105
        server_name partners.example.com;
        root /var/www/partners;
        ssl_certificate     /etc/nginx/certs/server.pem;
        ssl_certificate_key /etc/nginx/certs/server.key;
        ssl_client_certificate /etc/nginx/certs/other-ca.pem;
        ssl_verify_client on;
    }
    server {
        listen 443 ssl;  # expect: MTLS105
        server_name admin.example.com;
        root /var/www/admin;
        ssl_certificate     /etc/nginx/certs/server.pem;
        ssl_certificate_key /etc/nginx/certs/server.key;
        ssl_client_certificate /etc/nginx/certs/internal-ca.pem;
        ssl_verify_client on;
    }
    ```

    ## Fix
    In this order:
    1. Upgrade: nginx 1.26.3+ or 1.27.4+ (1.29.2+ does not resume across servers at
       all), or your distribution's fixed package.
    2. `ssl_session_tickets off;` at http level, with no `ssl_session_cache` in the
       socket's default server: no session is resumed.
    3. Pin the issuer in the protected server:
       `if ($ssl_client_i_dn != "CN=Internal Client CA") { return 403; }` (holds while the
       other CA's issuer name differs; a CA chooses its own name).
    4. Give each client CA its own address:port.
    5. Last resort: `ssl_protocols TLSv1.2;` in the default server (at http level).

    ## Verified
    With nginx 1.26.2, 1.28.0 and 1.30.4 built from the upstream sources, and Debian's
    1.22.1-9+deb12u11, on loopback (`pytest -m nginx -k MTLS105`): on 1.26.2 a session made
    with the other server's name and a certificate of its CA, resumed with the protected
    name, gets the protected content; 1.28.0 and Debian's nginx abort that handshake
    (`access_denied`); 1.30.4 does not resume it (full handshake, 400). On 1.26.2 each fix
    above closes it: `ssl_session_tickets off` at http level (no resumption: 400), the
    issuer pin (resumed, then 403), separate ports (not resumed: 400), `ssl_protocols
    TLSv1.2` (421). Also verified on 1.26.2: `ssl_protocols TLSv1.2` or
    `ssl_session_tickets off` in the default server alone closes it, the same directives in
    the protected server alone do not; a shared `ssl_session_cache` in the default server
    reopens it with tickets off. `stream {}` virtual servers (from 1.25.5) cross the same way:
    on 1.26.2 the resumed session is proxied, 1.28.0 refuses it.
    """

    id = "MTLS105"
    name = "session-resumption-bypass"
    severity = "error"
    tags = ("security", "mtls", "external/cwe/cwe-863")
    security_severity = "8.1"

    def check_socket(self, socket: Socket[Server], config: Config,
                     ctx: RuleContext) -> Iterator[Finding]:
        yield from self._crossings(socket, config, ctx)

    def check_stream_socket(self, socket: Socket[StreamServer], config: Config,
                            ctx: RuleContext) -> Iterator[Finding]:
        if ctx.target.at_least(STREAM_SERVERS_SINCE) is not False:
            yield from self._crossings(socket, config, ctx)

    def _crossings(self, socket: Socket, config: Config, ctx: RuleContext) -> Iterator[Finding]:
        verdict = ctx.target.cve_2025_23419
        servers = [s for s in socket.servers if s.verifies_clients]
        if verdict.state == "fixed" or not socket.tls or len(servers) < 2:
            return
        decider = config.known_default(socket)
        tls13 = self._tls13(decider, ctx.target)
        if tls13 is None:
            return
        # Servers grouped by what verifies them (linear in servers, quadratic only in
        # distinct CA sets); per set, one server whose sessions can be resumed.
        groups: dict[frozenset[str], list[TlsServer]] = {}
        for server in servers:
            groups.setdefault(ctx.trust_set(server), []).append(server)
        makers = {trusted: next((s for s in members if self._resumes(decider, s)), None)
                  for trusted, members in groups.items()}
        for trusted, members in groups.items():
            donor = next((maker for cas, maker in makers.items()
                          if maker is not None and not cas <= trusted), None)
            if donor is None:
                continue
            for victim in members:
                gets = self._gets(victim, ctx)
                if gets is not None:
                    yield self._finding(socket, victim, donor, decider, tls13, ctx, verdict,
                                        *gets)

    @staticmethod
    def _gets(victim: TlsServer, ctx: RuleContext) -> tuple[str, list] | None:
        """What a client verified against another CA gets from `victim` (a resumed session
        carries that verification), and the way there; None when nothing (a check pins the
        issuer, or nothing is served)."""
        if not isinstance(victim, Server):  # a stream {} server proxies whoever it verified
            proxy = victim.setting("proxy_pass")
            return (f"proxied to `proxy_pass {proxy.value}`" if proxy else "the stream", [])
        opened = next((p for p in ctx.flow(victim).paths("other-ca")
                       if p.result.verdict == YES), None)
        return None if opened is None else (served(opened), finding_trace(opened))

    @staticmethod
    def _tls13(decider: TlsServer | None, target: Target) -> str | None:
        """Why TLS 1.3 is on for the socket (the default server's `ssl_protocols` decides),
        or None when it is off."""
        on, setting = resumption.tls13(decider, target)
        if on is False:
            return None
        if setting is not None:
            return f"`ssl_protocols`{inherited(setting)} enables TLSv1.3"
        if on and target.upstream:
            return f"TLS 1.3 is on by default in nginx {'.'.join(map(str, target.upstream))}"
        return "TLS 1.3 is on by default from nginx 1.23.4"

    @staticmethod
    def _resumes(decider: TlsServer | None, maker: TlsServer) -> str | None:
        """How a session made with `maker` can be resumed on the socket, or None."""
        resumed, cache = resumption.resumes(decider, maker)
        if not resumed:
            return None
        if cache is not None:
            return f"the default server's `ssl_session_cache`{inherited(cache)}"
        return "session tickets (on by default)"

    def _finding(self, socket: Socket, victim: TlsServer, donor: TlsServer,
                 decider: TlsServer | None, tls13: str, ctx: RuleContext,
                 verdict: Verdict, gets: str, trace: list) -> Finding:
        target = ctx.target
        listen = next(entry[1] for entry in socket.entries if entry[0] is victim)
        name = next((n for n in victim.names if n), "this server")
        other = next((n for n in donor.names if n), "its name")
        resumed = self._resumes(decider, donor)
        if verdict.affected:
            judged = f"Judged for {target.describe()}: {verdict.reason}."
        else:
            judged = (f"It holds if this nginx is affected by {CVE} (upstream 1.11.4 to "
                      f"1.27.3, fixed in 1.26.3 and 1.27.4; distributions backport it): "
                      f"{verdict.reason}.")
        message = (
            f"{victim.title} shares {socket.name} with {donor.title}, which verifies "
            f"clients against another CA; {tls13} and sessions "
            f"resume through {resumed}. A client with a certificate of {donor.title}'s CA "
            f"makes a TLS 1.3 session with SNI {other}, resumes it with SNI {name} and gets "
            f"{gets} ({CVE}). {judged}")
        default = decider.title if decider else "the socket's default server"
        level = victim.context  # http or stream
        hints = [f"{target.upgrade_hint[0].upper()}{target.upgrade_hint[1:]}.",
                 f"ssl_session_tickets off;  (at {level} level) and no ssl_session_cache in "
                 f"{default}."]
        if isinstance(victim, Server):  # stream {} has no `if`
            hints.append(f"In {victim.title}: if ($ssl_client_i_dn != "
                         f"\"{self._issuer(victim, ctx)}\") {{ return 403; }}")
        hints += [f"Give {victim.title} its own address:port.",
                  f"Last resort: ssl_protocols TLSv1.2;  (in {default}, or at {level} level)."]
        fix = "\n".join(f"{number}. {hint}" for number, hint in enumerate(hints, 1))
        related = [Related(donor.file, donor.line,
                           f"{donor.title}: verifies clients against another CA")]
        related += ca_evidence(donor)
        if decider is not None and decider is not victim:
            related.append(Related(decider.file, decider.line,
                                   f"default server of {socket.name}: its protocols and "
                                   "session settings decide the handshake"))
        if decider is not None:
            on, protocols = resumption.tls13(decider, target)
            _, cache = resumption.resumes(decider, donor)
            if protocols is not None and on:
                related.append(evidence(protocols, "`ssl_protocols` (enables TLSv1.3)"))
            if cache is not None:
                related.append(evidence(cache, "`ssl_session_cache` (resumes sessions)"))
        return self.finding(listen.stmt, message, fix, victim,
                            severity=None if verdict.affected else "warning", related=related,
                            trace=trace)

    @staticmethod
    def _issuer(server: Server, ctx: RuleContext) -> str:
        """The subject of the server's one client CA, as $ssl_client_i_dn shows it."""
        subjects = {cert.subject for _, setting in server.client_ca_settings()
                    for cert in ctx.ca_file(server, setting).certs}
        return subjects.pop() if len(subjects) == 1 else "<issuer DN of its client CA>"
