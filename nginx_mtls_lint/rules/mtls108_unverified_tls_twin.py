from __future__ import annotations

from typing import Iterator

from ..findings import Finding, Related
from ..model import Server
from . import Rule, RuleContext, optional_in_scope


class UnverifiedTlsTwin(Rule):
    """The protected name is also served on another TLS listener that verifies no client.

    ## Why
    Certificate verification belongs to a server block, not to a name. A second server for
    the same `server_name` on another address or port (`listen 8443 ssl;` "for
    development", an old port kept for a partner) with `ssl_verify_client off` (or
    `optional` and no check of `$ssl_client_verify`) serves the same site to anyone who
    connects there. Reported when that server serves content;
    servers that only redirect or refuse are left alone, and so are loopback-only listeners
    and sockets where every server has `ssl_reject_handshake on` (with one server that
    completes handshakes, `Host:` reaches the copy all the same).
    A shared upstream alone is not reported: public and admin sites often share one.

    ## Example
    ```nginx
    server {
        listen 443 ssl;
        server_name admin.example.com;
        ssl_certificate     /etc/nginx/certs/server.pem;
        ssl_certificate_key /etc/nginx/certs/server.key;
        ssl_client_certificate /etc/nginx/certs/internal-ca.pem;
        ssl_verify_client on;
        location / { proxy_pass http://127.0.0.1:8080; }
    }
    server {  # expect: MTLS108
        listen 8443 ssl;
        server_name admin.example.com;
        ssl_certificate     /etc/nginx/certs/server.pem;
        ssl_certificate_key /etc/nginx/certs/server.key;
        location / { proxy_pass http://127.0.0.1:8080; }
    }
    ```

    ## Fix
    Verify clients there too, or remove the second server:
    ```nginx
    ssl_client_certificate /etc/nginx/certs/internal-ca.pem;
    ssl_verify_client on;
    ```

    ## Verified
    With nginx 1.22.1 (Debian 12, OpenSSL 3.0): a client without a certificate gets the
    content on the unverified port and 400 on the protected one.
    Reproduce: `pytest -m nginx -k MTLS108`.
    """

    id = "MTLS108"
    name = "unverified-tls-twin"
    severity = "error"
    tags = ("security", "mtls", "external/cwe/cwe-288")
    security_severity = "8.6"

    def check_server(self, server: Server, ctx: RuleContext) -> Iterator[Finding]:
        mode = server.verification.mode
        if not server.exposed_tls or server.verifies_clients and (
                mode == "on" or optional_in_scope(server)):
            return  # verified in the handshake, or judged for what `optional` lets in
        found = server.config.protected_twin(server)
        if found is None:
            return
        shared, twin = found
        if server.verifies_clients and twin.verification.mode != "on" \
                and not optional_in_scope(twin):
            return  # the twin keeps nobody out either
        sockets = [s for s in server.reachable_tls
                   if server.config.exposed(s) and s not in twin.tls_on]
        kinds = server.verification.verify_mode.followed_kinds if server.verifies_clients \
            else ("none",)
        if not sockets or not ctx.flow(server).open_paths(kinds):
            return
        client_ca = twin.setting("ssl_client_certificate")
        ca = client_ca.value if client_ca is not None else "<the protected server's CA>"
        verifies = (f"`ssl_verify_client {mode}` and no check of $ssl_client_verify"
                    if server.verifies_clients else "no `ssl_verify_client`")
        yield self.finding(
            server.stmt,
            f"{shared} verifies client certificates in another server, but this server "
            "answers the same name over TLS on "
            f"{', '.join(sockets)} with {verifies}: a client without a "
            "certificate connects there and gets the content.",
            f"Add to this server: ssl_client_certificate {ca}; ssl_verify_client on;  (or "
            "remove it)", server,
            related=[Related(twin.file, twin.line, f"{shared} verifies client certificates "
                             "here")])
