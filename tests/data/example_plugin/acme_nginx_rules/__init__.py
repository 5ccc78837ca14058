"""Example third-party rules for nginx-mtls-lint (used by the test suite). Written against
the first rule API, one `check(config, ctx)` over the whole configuration, which keeps working."""

from nginx_mtls_lint.rules import Rule


class CatchAllServerName(Rule):
    """A TLS server answers for every name (`server_name _` or none).

    ## Why
    ACME's policy: every TLS server names the hosts it serves.

    ## Example
    ```nginx
    server { listen 443 ssl; server_name _; }  # expect: ACME001
    ```

    ## Fix
    `server_name www.example.com;`
    """

    id = "ACME001"
    name = "catch-all-server-name"
    severity = "warning"
    tags = ("policy",)

    def check(self, config, ctx):
        for server in config.servers:
            if server.serves_tls and set(server.names) <= {"", "_"}:
                yield self.finding(server.stmt, f"{server.label} has no server_name.",
                                   "server_name www.example.com;", server)


RULES = [CatchAllServerName]
