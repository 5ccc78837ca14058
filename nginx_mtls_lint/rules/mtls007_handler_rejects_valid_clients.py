from __future__ import annotations

from typing import Iterator

from ..findings import Finding
from ..flow import Path
from ..model import Server, flatten
from ..parser import Stmt
from . import Rule, RuleContext, finding_trace, trace_text


# An application the server hands requests to: content it means to serve, even when an
# unconditional `return` after the checks makes it unreachable.
CONTENT = frozenset(("proxy_pass", "fastcgi_pass", "uwsgi_pass", "scgi_pass", "grpc_pass",
                     "memcached_pass"))


def answering_if(path: Path) -> Stmt | None:
    """The `if` whose block answered the request, if one did."""
    answered = path.outcome.stmt
    last_if = next((s.stmt for s in reversed(path.outcome.trace)
                    if s.stmt is not None and s.stmt.name == "if" and not s.passed), None)
    if last_if is not None and (answered is None or answered.name == "auth_request"
                                or answered in flatten(last_if.block)):
        return last_if
    return None


def refusing_directive(path: Path) -> Stmt | None:
    """The check that turned the valid client away: the `if` whose block answered, else the
    directive that answered (a `return` after the checks, a `deny`, an `auth_request`)."""
    return answering_if(path) or path.outcome.stmt


class HandlerRejectsValidClients(Rule):
    """The request phases refuse the valid client on every URI: the origin is broken.

    ## Why
    A check meant to keep clients without a certificate out can refuse everyone, the valid
    client included, while `nginx -t` is happy:

    - `if` comparisons are case-sensitive: `if ($ssl_client_verify != success)` is true for
      `SUCCESS` too;
    - with `real_ip_header CF-Connecting-IP`, `$remote_addr` is the visitor's address, not
      Cloudflare's: `allow <Cloudflare ranges>; deny all;` (or a `geo` on `$remote_addr`)
      then refuses every request Cloudflare sends. Test `$realip_remote_addr` instead.

    The linter follows the valid client (a certificate of the expected CA, through a
    Cloudflare edge for a Cloudflare-fronted server) through the rewrite and access phases
    of every location. Reported when every URI ends refused while the server has content to
    serve; servers that deliberately serve nothing (redirects, `return 444`) are left alone.
    A redirect or a text answered by an `if` the valid client takes on every URI (a check
    that turns it away with `return 301 ...` or `return 200 "denied"`) is a refusal too.
    Refusals in the TLS handshake (CA files, CRLs, depth) are the CA rules' business.

    ## Example
    ```nginx
    server {
        listen 443 ssl;
        server_name app.example.com;
        ssl_certificate     /etc/nginx/certs/server.pem;
        ssl_certificate_key /etc/nginx/certs/server.key;
        ssl_client_certificate /etc/nginx/certs/internal-ca.pem;
        ssl_verify_client optional;
        if ($ssl_client_verify != success) {  # expect: MTLS007
            return 403;
        }
        location / { proxy_pass http://127.0.0.1:8080; }
    }
    ```

    ## Fix
    Compare with the exact value nginx sets:
    ```nginx
    if ($ssl_client_verify != SUCCESS) { return 403; }
    ```
    and test the connection's address, not the visitor's: `geo $realip_remote_addr $x`, or
    no address check at all (the certificate already says "came through Cloudflare").

    ## Verified
    With nginx 1.22.1 (Debian 12, OpenSSL 3.0): `!= success` refuses a valid client (403);
    `allow <Cloudflare ranges>; deny all;` after realip refuses a request from a Cloudflare
    edge address with `CF-Connecting-IP` set (403), and `geo $realip_remote_addr` admits it.
    Reproduce: `pytest -m nginx -k MTLS007`.
    """

    id = "MTLS007"
    name = "handler-rejects-valid-clients"
    severity = "error"
    tags = ("reliability", "mtls")
    security_severity = "5.0"

    def check_server(self, server: Server, ctx: RuleContext) -> Iterator[Finding]:
        if not self._in_scope(server):
            return
        flow = ctx.flow(server)
        path = flow.valid_refused(server.cloudflare.fronted)
        if path is None or path.outcome.kind not in ("reject", "close") and not (
                path.outcome.kind in ("text", "redirect") and answering_if(path)):
            return  # served somewhere, or answered on purpose (a redirect, a text)
        if not (flow.serves_content() or CONTENT & server.directive_names()):
            return  # it has nothing to serve
        at = refusing_directive(path) or server.stmt
        yield self.finding(
            at,
            f"{path.client.label[0].upper()}{path.client.label[1:]} is refused on every "
            f"URI of {server.title}: "
            f"{path.uri} ends in {path.outcome.describe()} "
            f"({trace_text(path)}).",
            "Compare with the exact value (`!= SUCCESS`, case-sensitive), and test "
            "$realip_remote_addr rather than $remote_addr for Cloudflare's addresses.",
            server, trace=finding_trace(path))

    @staticmethod
    def _in_scope(server: Server) -> bool:
        if server.cloudflare.fronted:
            return True
        return server.verifies_clients and bool(server.tls_on)
