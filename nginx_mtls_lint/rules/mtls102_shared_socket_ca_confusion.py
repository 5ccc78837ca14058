from __future__ import annotations

from typing import Iterator

from ..findings import Finding, Related
from ..flow import YES
from ..model import Config, Server, Socket, StreamServer, name_keys
from ..parser import Stmt
from . import (Rule, RuleContext, ca_evidence, certificate_check, evidence, inherited, served,
               served_evidence)
from .mtls105_session_resumption_bypass import STREAM_SERVERS_SINCE, SessionResumptionBypass
from .fixes import reject_handshake_default

REJECT_DEFAULT = "ssl_reject_handshake on;"
# The clients without a valid certificate, as the messages name them.
CLIENTS = (("none", "without a certificate"), ("other-ca", "with another CA's certificate"))


def stale_check_admits(server: StreamServer) -> list[str]:
    """The clients ngx_stream_ssl_handler lets through when it checks a handshake with this
    server's `ssl_verify_client`."""
    mode = server.verification.verify_mode
    return [label for kind, label in CLIENTS if mode.passes(kind)]



class SharedSocketCaConfusion(Rule):
    """A protected server shares its address:port with a default server that trusts another CA.

    ## Why
    nginx picks the server for a TLS handshake by SNI, and falls back to the socket's
    default server (`default_server`, else the first server listed for that address:port)
    when the client sends no SNI or an unknown name. Certificate verification happens in
    that handshake, against the default server's CA. The request is then routed by its
    `Host` header, and nginx only checks that *a* certificate was verified, not by which CA.
    So a client holding a certificate from the default server's CA sends no SNI,
    `Host: protected.example.com`, and gets the protected content with
    `$ssl_client_verify = SUCCESS`. It works over HTTP/1.1 and HTTP/2, TLS 1.2 and 1.3, with
    `optional` plus a `!= SUCCESS` check too, and through TLS 1.3 session resumption
    (a session made without SNI carries no name to compare).

    Reported when the default server verifies clients (`on`, `optional`, or
    `optional_no_ca` with a CA file) against a trust set (client CA plus trusted CA files)
    holding a CA that the protected server does not trust, and a request with such a
    certificate reaches content. A pin in the protected server that the other CA cannot
    satisfy (`$ssl_client_fingerprint`) lowers it to a warning; so does an issuer-DN check,
    which only holds while the other CA's name differs. Sockets are told apart as nginx
    groups them: `listen 443` (every address) and
    `listen 127.0.0.1:443` are different sets of servers, each with its own default;
    `[::]:443` is another address again. In a fragment linted alone only an explicit
    `default_server` counts, since another file may hold the socket's default.

    `stream {}` virtual servers (nginx 1.25.5 and later) have no `Host:`, but a flaw of
    their own: ngx_stream_ssl_handler reads `ssl_verify_client` from the default server
    before the handshake, and when the handshake completes in one pass (the client's
    answer is already there when nginx reads) checks the result with that setting, not
    with the server SNI chose. A named server with `ssl_verify_client on` behind a default
    server with `off` (`ssl_reject_handshake on` included) proxies a client without a
    certificate, or with any CA's, on such connections; behind `optional`, one without a
    certificate. A client retries until it gets one. Reported at the named server's
    `listen` when the default admits a client it refuses; the fix is a default server that
    verifies the same way, or an address:port of its own.

    ## Example
    ```nginx
    server {
        listen 443 ssl default_server;  # expect: MTLS105
        server_name partners.example.com;
        root /var/www/partners;
        ssl_certificate     /etc/nginx/certs/server.pem;
        ssl_certificate_key /etc/nginx/certs/server.key;
        ssl_client_certificate /etc/nginx/certs/other-ca.pem;
        ssl_verify_client on;
    }
    server {
        listen 443 ssl;  # expect: MTLS102, MTLS105
        server_name admin.example.com;
        root /var/www/admin;
        ssl_certificate     /etc/nginx/certs/server.pem;
        ssl_certificate_key /etc/nginx/certs/server.key;
        ssl_client_certificate /etc/nginx/certs/internal-ca.pem;
        ssl_verify_client on;
    }
    ```

    ## Fix
    Give the socket a default server that refuses handshakes without a known name:
    ```nginx
    server {
        listen 443 ssl default_server;
        ssl_reject_handshake on;
    }
    ```
    or put the protected server on its own address or port. An issuer check
    (`$ssl_client_i_dn`) is no fix: a CA can choose any name. (The example is MTLS105 too:
    on an nginx affected by CVE-2025-23419 the two CAs also cross by TLS 1.3 resumption,
    which `ssl_reject_handshake` does not stop.)

    ## Verified
    With nginx 1.22.1 (Debian 12, OpenSSL 3.0) on loopback: a certificate from the default
    server's CA, sent without SNI and with `Host:` of the protected name, gets the protected
    content; `ssl_reject_handshake on` in a default server ends that handshake.
    Not tested here: wildcard binds (the tests never listen beyond loopback; the facts file
    records the wildcard/specific grouping seen in a network namespace), `listen` on host
    names (nginx resolves them at start; the linter compares them as written), HTTP/2 and
    TLS 1.3 resumption (recorded in the facts file, not re-run by the suite).
    In `stream {}` (upstream nginx 1.26.2, 1.28.0 and 1.30.4 built from the sources): a
    client without a certificate naming the protected server in SNI is proxied on a few
    connections in a hundred behind a default server with `off`, `optional` or
    `ssl_reject_handshake on`, and on most of them with nginx's worker at the lowest
    priority on the client's CPU; behind a default that verifies with `on`, on none.
    Reproduce: `pytest -m nginx -k MTLS102` (the stream test is marked slow).
    """

    id = "MTLS102"
    name = "shared-socket-ca-confusion"
    severity = "error"
    tags = ("security", "mtls", "external/cwe/cwe-295")
    security_severity = "8.8"

    def check_socket(self, socket: Socket[Server], config: Config,
                     ctx: RuleContext) -> Iterator[Finding]:
        default = config.known_default(socket)
        if not socket.tls or default is None or default.rejects_handshakes_without_sni:
            return
        mode, setting = default.verification.mode, default.verification.setting
        # `optional_no_ca` verifies against its CA file too: that CA's certificates
        # arrive as SUCCESS; without a CA file it verifies nothing.
        if not default.verifies_clients or (
                mode == "optional_no_ca" and not default.client_ca_settings()):
            return
        accepted = ctx.trust_set(default)
        for server, listen in socket.entries:
            if server is default or not server.verifies_clients:
                continue
            if accepted <= ctx.trust_set(server):
                continue  # whatever the default accepts, this server accepts anyway
            yield from self._judge(server, listen, default, mode, setting, socket, ctx)

    def check_stream_socket(self, socket: Socket[StreamServer], config: Config,
                            ctx: RuleContext) -> Iterator[Finding]:
        """stream {} virtual servers (1.25.5 and later): ngx_stream_ssl_handler reads
        `ssl_verify_client` before the handshake, from the default server, and checks the
        result with it when the handshake completes in one pass (the client's answer is
        already there when nginx reads); only a handshake that waits for it is checked
        with the server chosen by SNI. A default server admitting a client the named one
        refuses lets it in on such connections, whatever the default server proxies."""
        default = config.known_default(socket)
        if not socket.tls or default is None or \
                ctx.target.at_least(STREAM_SERVERS_SINCE) is False:
            return
        for server, listen in socket.entries:
            slipping = _slipping(server, default, socket)
            if not slipping:
                continue
            own = server.verification.setting
            mode = default.verification.mode
            written = (f"`ssl_verify_client {mode}`{inherited(default.verification.setting)}"
                       if default.verification.setting else "no `ssl_verify_client`")
            if default.rejects_handshakes_without_sni:
                written += " (`ssl_reject_handshake on` refuses only handshakes it answers)"
            proxy = server.proxy_pass or server.setting("pass")
            assert own is not None and proxy is not None
            yield self.finding(
                listen.stmt,
                f"{server.title} verifies clients (`ssl_verify_client "
                f"{server.verification.mode}`{inherited(own)}) but shares {socket.name} with "
                f"the default server {default.title}, which "
                f"has {written}: nginx checks a handshake that completes in one pass with "
                f"the default server's setting, so a client {' or '.join(slipping)} that "
                f"names {next(n for n in server.names if n)} in SNI and retries a few "
                "times is proxied by "
                f"`{proxy.stmt.name} {proxy.value}`.",
                f"Give the default server of {socket.name} the same verification "
                "(`ssl_client_certificate` and `ssl_verify_client on`), or listen on an "
                f"address or port of its own for {server.title}.", server,
                related=[evidence(socket.default_listen[1].stmt,
                                  f"default server of {socket.name}: {default.title}"),
                         *([evidence(default.verification.setting,
                                     "the default server's `ssl_verify_client`")]
                           if default.verification.setting else []),
                         evidence(own, f"`ssl_verify_client {server.verification.mode}` of "
                                  f"{server.title}"),
                         evidence(proxy, "where the connection goes")])

    def _judge(self, server, listen, default, mode, setting, socket, ctx) -> Iterator[Finding]:
        flow = ctx.flow(server)
        paths = flow.paths("other-ca")
        open_paths = [p for p in paths if p.result.verdict == YES]
        name = next((n for n in server.names if n), "this server")
        said = (f"{server.title} shares {socket.name} with the default server "
                f"{default.title}, which verifies clients "
                f"against another CA (`ssl_verify_client {mode}`{inherited(setting)})")
        fix = self._fix(socket.name, listen.stmt.args[0], server, ctx)
        default_listen = socket.default_listen[1]
        related = [evidence(default_listen.stmt, f"default server of {socket.name}: "
                            f"{default.title}"),
                   evidence(setting, f"the default server's `ssl_verify_client {mode}`"),
                   *(Related(r.file, r.line, "default server's " + r.label)
                     for r in ca_evidence(default)),
                   *ca_evidence(server)]
        fixes = [] if ctx.target.lacks("ssl_reject_handshake") else \
            reject_handshake_default(ctx.source, default.stmt, default_listen.stmt)
        if open_paths:
            yield self.finding(
                listen.stmt,
                f"{said}: a client with that CA's certificate sends no SNI and `Host: "
                f"{name}` and gets {served(open_paths[0])}.", fix, server,
                related=[*related, *served_evidence(open_paths[0])], fixes=fixes)
            return
        guard = sni_guard(paths)
        resumed = resumed_without_sni(default, ctx) if guard is not None else None
        if guard is not None and resumed is not None and flow.serves_content():
            yield self.finding(
                listen.stmt,
                f"{said}: `if ({' '.join(guard.args)})` refuses a "
                f"handshake without SNI, but not a TLS 1.3 session made without SNI with "
                f"{default.title} and resumed with SNI {name}: the resumed handshake keeps "
                f"that CA's verification (SUCCESS) and now names {name} ({resumed}).",
                fix, server, related=[*related, evidence(guard, "the SNI check")],
                fixes=fixes)
            return
        pin = next((check for p in paths if (check := certificate_check(p, server, False))
                    is not None), None)
        if pin is None:
            return  # the server serves nothing such a client could get
        weak = "$ssl_client_fingerprint" not in " ".join(pin.args)
        yield self.finding(
            listen.stmt,
            f"{said}: `if ({' '.join(pin.args)})` keeps that CA's "
            f"certificates out" + (", but only while that CA's name differs from the "
                                   "expected issuer's: a CA chooses its own name"
                                   if weak else "") + ".", fix, server, severity="warning",
            related=[*related, evidence(pin, "the check that keeps that CA's clients out")],
            fixes=fixes)

    @staticmethod
    def _fix(socket: str, address: str, server, ctx: RuleContext) -> str:
        lacking = ctx.target.lacks("ssl_reject_handshake")
        if lacking:  # only what the target has
            return (f"Listen on a separate address or port for {server.title} ({lacking}; "
                    f"upgrading to 1.19.4 or later allows a default server with "
                    f"`{REJECT_DEFAULT}`).")
        return (f"Add `{REJECT_DEFAULT}` to a default server for {socket} (a new "
                f"`server {{ listen {address} ssl default_server; {REJECT_DEFAULT} }}`), or "
                "listen on a separate address.")


def _slipping(server: StreamServer, default: StreamServer,
              socket: Socket[StreamServer]) -> list[str]:
    """The clients the default server's check admits and this server's refuses, when SNI
    picks this server and it proxies: who slips in on a one-pass handshake."""
    if server is default or not server.verifies_clients or (
            server.proxy_pass is None and server.setting("pass") is None):
        return []
    if not any(socket.answering(key) is server for name in server.names if name
               for key in name_keys(name)):
        return []  # SNI never picks it (a shadowed name when another server has it)
    refused = stale_check_admits(server)
    return [kind for kind in stale_check_admits(default) if kind not in refused]


def sni_guard(paths: list) -> Stmt | None:
    """An `if` on $ssl_server_name that refused the client without SNI on some path."""
    for path in paths:
        for step in path.outcome.trace:
            stmt = step.stmt
            if stmt is not None and stmt.name == "if" and not step.passed and \
                    any("ssl_server_name" in arg for arg in stmt.args):
                return stmt
    return None


def resumed_without_sni(default: Server, ctx: RuleContext) -> str | None:
    """How a session made without SNI on the default server is resumed with a name, or None
    where it is not: nginx 1.29.2 and later choose the server before resumption (facts §6),
    TLS 1.2 keeps the session's empty name (421), no tickets and no cache."""
    if ctx.target.picks_server_before_resumption:
        return None
    tls13 = SessionResumptionBypass._tls13(default, ctx.target)
    resumes = SessionResumptionBypass._resumes(default, default)
    if tls13 is None or resumes is None:
        return None
    version = "" if ctx.target.upstream is None else f" on {ctx.target.describe()}"
    return f"{tls13}, sessions resume through {resumes}; nginx up to 1.29.1 resumes it{version}"
