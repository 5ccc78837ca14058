from __future__ import annotations

from typing import Any, Iterator, Mapping

from ..findings import Finding, Related, Step
from ..model import Server, Socket, StreamServer, TlsServer, name_keys
from . import Rule, RuleContext, finding_trace
from .mtls105_session_resumption_bypass import STREAM_SERVERS_SINCE


class ShadowedServerName(Rule):
    """A protected server's name is answered by an earlier, unprotected server on the same socket.

    ## Why
    When two servers on one address:port carry the same `server_name`, nginx only warns
    (`conflicting server name "..." on 0.0.0.0:443, ignored`) and the first server in load
    order answers every request for that name. A protected copy loaded second protects
    nothing: requests for the name reach the first server, which asks for no certificate.
    Load order is file order, with `include` globs sorted: `sites-enabled/00-app.conf` comes
    before `sites-enabled/app.conf`. Names are compared as nginx hashes them: `.example.com`
    is both `example.com` and `*.example.com`, so it takes either from a server loaded later.
    Across forms nginx ignores load order: exact names first, then wildcards, then regular
    expressions, so a wildcard (`*.example.com`) in an unprotected server takes every name
    of a protected regex that ends in that domain (`~^(?<t>.+)\\.example\\.com$`).

    `stream {}` virtual servers (nginx 1.25.5 and later) pick the server by SNI the same
    way: the first stream server carrying a name answers it, and one that verifies no
    client certificate proxies whoever names it.

    ## Example
    ```nginx
    server {
        listen 443 ssl;
        server_name app.example.com;
        ssl_certificate     /etc/nginx/certs/server.pem;
        ssl_certificate_key /etc/nginx/certs/server.key;
        location / { proxy_pass http://127.0.0.1:8080; }
    }
    server {  # expect: MTLS106
        listen 443 ssl;
        server_name app.example.com;
        ssl_certificate     /etc/nginx/certs/server.pem;
        ssl_certificate_key /etc/nginx/certs/server.key;
        ssl_client_certificate /etc/nginx/certs/internal-ca.pem;
        ssl_verify_client on;
        location / { proxy_pass http://127.0.0.1:8080; }
    }
    ```

    ## Fix
    Remove the unprotected copy (or its `server_name`), so that the protected server is the
    only one answering the name on that address:port; `nginx -t` then shows no
    "conflicting server name" warning.

    ## Verified
    With nginx 1.22.1 (Debian 12, OpenSSL 3.0): with both servers on one address:port, a
    client without a certificate gets the first server's content for the shared name; with
    the unprotected copy removed it gets 400.
    In a network namespace (tests/test_flow_labels.py): `.example.com` loaded first takes
    both `example.com` and `*.example.com` from a protected server, an exact name loaded
    first makes nginx ignore a later `.example.com` as a whole, and `*.tenants.example.com`
    loaded after a protected `~^(?<t>...)\\.tenants\\.example\\.com$` answers its tenants.
    In `stream {}` (upstream nginx 1.26.2): a client without a certificate naming the
    shared name in SNI is proxied by the first, unverified copy; without that copy's name
    the protected server closes it.
    Reproduce: `pytest -m nginx -k MTLS106`; `pytest -m slow tests/test_flow_labels.py -k
    "dot_wildcard or wildcard_name"`.
    """

    id = "MTLS106"
    name = "shadowed-server-name"
    severity = "error"
    tags = ("security", "mtls", "external/cwe/cwe-288")
    security_severity = "8.6"

    def check_server(self, server: Server, ctx: RuleContext) -> Iterator[Finding]:
        yield from self._shadowed(server, server.config.sockets, ctx)

    def check_stream_server(self, server: StreamServer, ctx: RuleContext) -> Iterator[Finding]:
        """The same with SNI: stream {} virtual servers (nginx 1.25.5 and later)."""
        if ctx.target.at_least(STREAM_SERVERS_SINCE) is not False:
            yield from self._shadowed(server, server.config.stream_sockets, ctx)

    @staticmethod
    def _served(first: TlsServer, ctx: RuleContext) -> list[Step] | None:
        """The path on which the answering server serves a client without a certificate
        (empty for a stream server, which proxies whoever connects); None: it serves
        nothing."""
        if isinstance(first, StreamServer):
            if first.proxy_pass is None and first.setting("pass") is None:
                return None
            return []
        assert isinstance(first, Server)
        open_paths = ctx.flow(first).open_paths(("none",))
        return finding_trace(open_paths[0]) if open_paths else None

    def _shadowed(self, server: TlsServer, sockets: Mapping[str, Socket[Any]],
                  ctx: RuleContext) -> Iterator[Finding]:
        if not server.verifies_clients:
            return
        for listen in server.listens:
            socket = sockets[listen.socket]
            for name in (key for each in server.names if each and each != "_"
                         for key in name_keys(each)):
                # a regex is tried after every wildcard: one covering it takes its names
                wildcard = socket.wildcard_over(name) if name.startswith("~") else None
                first = socket.answering(wildcard or name)
                if first is None or first is server or first.verifies_clients:
                    continue
                steps = self._served(first, ctx)
                if steps is None:
                    continue  # the server that answers serves nothing
                yield self._finding(server, socket, name, first, wildcard, steps)
                return  # one name on one socket shows it

    def _finding(self, server: TlsServer, socket: Socket[Any], name: str, first: TlsServer,
                 wildcard: str | None, steps: list[Step]) -> Finding:
        header = "SNI" if isinstance(first, StreamServer) else "Host"
        # what the first server wrote: `.x` takes x and *.x too
        written = next((n for n in first.names if (wildcard or name) in name_keys(n)), name)
        taken = name if written == name else f"{name} (as `{written}`)"
        why = _why(written) if wildcard else _why(None)
        return self.finding(
            server.stmt,
            f"{name} on {socket.name} is answered by another server, {why}.",
            f"Remove server_name {written} from the server at "
            f"{first.file}:{first.line}.", server,
            related=[Related(first.file, first.line, f"answers {taken} on {socket.name}")],
            trace=[Step(first.file, first.line, (
                f"a {header} matching {name}" if name[0] in "~*" else
                f"{header}: {name}") + f" on {socket.name} "
                f"goes to the server with `server_name {written}`"), *steps])


def _why(wildcard_name: str | None) -> str:
    """Why the protected server loses the name: a wildcard tried before its regex, or an
    exact name loaded first."""
    if wildcard_name is not None:
        return (f"whose `server_name {wildcard_name}` nginx tries before any regular "
                "expression, and which asks for no client certificate; this "
                "protected server never answers those names (nginx -t says "
                "nothing)")
    return ("loaded first, which asks for no client certificate; this "
            "protected copy is ignored for that name (nginx -t only warns: "
            "conflicting server name)")
