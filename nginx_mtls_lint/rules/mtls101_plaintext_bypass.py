from __future__ import annotations

from typing import Iterator

from ..findings import Finding, Fix, Related
from ..model import Listen, Server
from . import Rule, RuleContext, evidence, finding_trace, unmodelled_at, unmodelled_evidence
from .fixes import append_word, insert_after, make_fix

HTTPS_REDIRECT = "return 301 https://$host$request_uri;"


class PlaintextBypass(Rule):
    """A server that verifies client certificates is also reachable over plain HTTP.

    ## Why
    nginx checks client certificates only on TLS connections. Plain HTTP to the same
    content skips the check entirely:

    - a plain `server` with the same `server_name` that serves or proxies content;
    - one server block with both `listen ... ssl` and a plain `listen`;
    - `ssl_verify_client` in a server with no TLS listener (`nginx -t` accepts it);
    - `listen 443;` without `ssl`: the `ssl` flag belongs to the address:port, so unless some
      server declares `ssl` for exactly that address:port it speaks plain HTTP. One server's
      `listen 443 ssl;` makes every server on `*:443` TLS, but `listen [::]:443;` is another
      address and stays plain.

    Plain listeners that only `return 301 https://...`, `return 444` or another 4xx, or that
    reject an empty `$ssl_client_verify` at server level, expose nothing and are not reported;
    ACME challenge locations under `/.well-known/` are allowed, and so are plain listeners on
    loopback addresses (only the host itself can connect). When what plain HTTP gets rests
    on something the analysis does not model (a file test, a module's code or variable), it
    is a warning naming it: not proven refused. In a fragment linted alone the
    `ssl` flag may come from another file, so its plain listeners are a warning there.

    ## Example
    ```nginx
    server {
        listen 443 ssl;
        listen [::]:443;  # expect: MTLS101
        server_name api.example.com;
        ssl_certificate     /etc/nginx/certs/server.pem;
        ssl_certificate_key /etc/nginx/certs/server.key;
        ssl_client_certificate /etc/nginx/certs/internal-ca.pem;
        ssl_verify_client on;
        location / { proxy_pass http://127.0.0.1:8080; }
    }
    server {  # expect: MTLS101
        listen 80;
        server_name api.example.com;
        location / { proxy_pass http://127.0.0.1:8080; }
    }
    ```

    ## Fix
    Put `ssl` on every listen of a protected server (`listen [::]:443 ssl;`), and let plain
    listeners only redirect:
    ```nginx
    server {
        listen 80;
        server_name api.example.com;
        return 301 https://$host$request_uri;
    }
    ```

    ## Verified
    With nginx 1.22.1 (Debian 12, OpenSSL 3.0) on loopback: a plain server for the same name
    serves the content over http://, a redirect does not; `listen PORT;` without `ssl` is
    plain unless another server on that address:port declares `ssl`.
    Reproduce: `pytest -m nginx -k MTLS101`.
    """

    id = "MTLS101"
    name = "plaintext-bypass"
    severity = "error"
    tags = ("security", "mtls", "cloudflare", "external/cwe/cwe-319")
    security_severity = "8.6"

    def check_server(self, server: Server, ctx: RuleContext) -> Iterator[Finding]:
        plain = server.exposed_plain_listens
        if not plain:
            return
        if not ctx.flow(server).open_paths(("plain",), tls=False):
            yield from self._undecided(server, plain, ctx)
            return  # plain HTTP gets redirects, refusals or fixed answers only
        fragment = server.config.fragment
        verification = server.verification
        setting = verification.setting
        if verification.verifies and (server.tls_on or fragment):
            yield from self._plain_listens(server, plain, fragment, ctx)
        elif setting is not None and verification.verifies and not setting.inherited:
            yield self.finding(
                setting.stmt,
                f"`ssl_verify_client {verification.mode}` in "
                f"{server.title}, which has no TLS listener{self._legacy_ssl(server, plain)}: "
                "nginx never asks for a certificate and plain HTTP gets the content.",
                "Make the listener TLS: listen 443 ssl;", server,
                related=[*(evidence(listen.stmt, "plain listener") for listen in plain),
                         *self._legacy_ssl_evidence(server, plain)],
                fixes=self._tls_listens(ctx, server, plain))
        elif not server.tls_on:
            yield from self._plain_twin(server, ctx)

    def _undecided(self, server: Server, plain: list[Listen],
                   ctx: RuleContext) -> Iterator[Finding]:
        """Plain HTTP to a protected server (or its twin) whose answer rests on what the
        analysis does not model: not proven refused, a warning naming it."""
        if not (server.verification.verifies or server.config.protected_twin(server)):
            return
        undecided = [p for p in ctx.flow(server).unsure_paths(("plain",), tls=False)
                     if p.outcome.limit]
        if not undecided:
            return
        path, listen = undecided[0], plain[0]
        yield self.finding(
            unmodelled_at(path) or listen.stmt,
            f"`listen {' '.join(listen.stmt.args)}` serves plain HTTP for {server.title} "
            "(client certificates are verified over TLS only): whether "
            f"{path.client.label} requesting {path.uri} gets content was not decided: "
            f"{path.outcome.reason}.", f"Serve nothing over plain HTTP: {HTTPS_REDIRECT}",
            server, severity="warning",
            related=[evidence(listen.stmt, "plain listener"), *unmodelled_evidence(path)],
            trace=finding_trace(path))

    @staticmethod
    def _legacy_ssl(server: Server, plain: list[Listen]) -> str:
        """Why a server's own `ssl on;` did not make its port TLS: nginx reads that directive
        from the port's default server only."""
        ssl = server.setting("ssl")
        if ssl is None or ssl.value != "on":
            return ""
        default = server.config.sockets[plain[0].socket].default
        return (f" (`ssl on;` counts only in the default server of {plain[0].socket}, "
                f"{default.title})")

    @staticmethod
    def _legacy_ssl_evidence(server: Server, plain: list[Listen]) -> list[Related]:
        ssl = server.setting("ssl")
        if ssl is None or ssl.value != "on":
            return []
        default = server.config.sockets[plain[0].socket].default
        return [evidence(ssl, "`ssl on;` (read from the default server only)"),
                Related(default.file, default.line, f"default server of {plain[0].socket}")]

    @staticmethod
    def _tls_listens(ctx: RuleContext, server: Server, plain: list[Listen]) -> list[Fix]:
        """`ssl` on plain listeners of a server that has a certificate: safe when the server
        already speaks TLS on the same port elsewhere (the listener was meant to), else
        unsafe (plain-HTTP clients of that port are refused)."""
        if server.setting("ssl_certificate") is None:
            return []
        tls_ports = {socket.rsplit(":", 1)[-1] for socket in server.tls_on}
        unsafe = any(listen.socket.rsplit(":", 1)[-1] not in tls_ports for listen in plain)
        return make_fix("make the listener TLS", *(append_word(ctx.source, listen.stmt, "ssl")
                                                   for listen in plain), unsafe=unsafe)

    def _plain_listens(self, server: Server, plain: list[Listen],
                       fragment: bool, ctx: RuleContext) -> Iterator[Finding]:
        mode, setting = server.verification.mode, server.verification.setting
        related = [evidence(setting, f"`ssl_verify_client {mode}`")] if setting else []
        for listen in plain:
            fixes = self._tls_listens(ctx, server, [listen])
            arg = " ".join(listen.stmt.args)
            fix = f"listen {arg} ssl;  (or move this listener to its own server with " \
                  f"{HTTPS_REDIRECT})"
            if fragment:
                # Another file of the deployment may declare `ssl` for this address:port.
                yield self.finding(
                    listen.stmt,
                    f"`listen {arg}`: no server in this file declares "
                    f"`ssl` for {listen.socket}; unless another file does, {server.title} "
                    "answers plain HTTP there and skips client certificate verification "
                    "(lint the nginx.conf that includes this file to know).", fix, server,
                    severity="warning", related=related, fixes=fixes)
            else:
                yield self.finding(
                    listen.stmt,
                    f"`listen {arg}`: no server declares `ssl` for "
                    f"{listen.socket}, so {server.title} answers plain HTTP there and skips "
                    "client certificate verification.", fix, server, related=related,
                    fixes=fixes)

    def _plain_twin(self, server: Server, ctx: RuleContext) -> Iterator[Finding]:
        found = server.config.protected_twin(server)
        if found is None:
            return
        shared, twin = found
        yield self.finding(
            server.stmt,
            f"{shared} verifies client certificates in another server, "
            f"but this plain-HTTP server for the same name serves content: a client without "
            "a certificate uses http:// instead.",
            f"Serve nothing over plain HTTP: {HTTPS_REDIRECT}", server,
            related=[Related(twin.file, twin.line, f"{shared} verifies client certificates "
                             "here")],
            fixes=make_fix("redirect every plain-HTTP request to https:// (plain-HTTP clients "
                           "of this server get a redirect instead of content)",
                           insert_after(ctx.source, server.stmt, HTTPS_REDIRECT), unsafe=True))
