"""A plugin rule with a bug (used by the test suite): it raises on every TLS server."""

from nginx_mtls_lint.rules import Rule


class Crashes(Rule):
    """Raises while checking a server.

    ## Why
    Tests that a rule's bug does not end the run.

    ## Example
    ```nginx
    server { listen 443 ssl; }
    ```

    ## Fix
    None.
    """

    id = "BOOM001"
    name = "always-crashes"
    severity = "warning"
    tags = ("policy",)

    def check_server(self, server, ctx):
        if server.serves_tls:
            raise KeyError("no such thing")
        yield from ()


RULES = [Crashes]
