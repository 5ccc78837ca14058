from __future__ import annotations

from typing import Iterator

from ..findings import Finding
from ..model import Server
from . import Rule, RuleContext, evidence, finding_trace, inherited


class CannotProve(Rule):
    """The analysis could not decide whether a client without a valid certificate reaches
    content: a budget was spent, or the configuration uses a construct it does not model.

    ## Why
    A server is reported as held only when every path a client can force has been followed
    to its end. When the simulation of a request stops early (a regex in PCRE syntax that
    cannot be run faithfully, a location no URI could be made for, more paths or URIs than its
    budget), the answer for that request is "cannot prove", never "held": nginx may serve it.
    The message names what was not decided and where.

    Reported for servers whose `ssl_verify_client` lets such clients past the handshake
    (`optional`, `optional_no_ca`), when no other finding already shows a bypass, and not for
    Cloudflare-fronted servers (MTLS002 warns there with the same reason).

    ## Example
    ```nginx
    server {
        listen 443 ssl;
        server_name internal.example.com;
        ssl_certificate     /etc/nginx/certs/app.pem;
        ssl_certificate_key /etc/nginx/certs/app.key;
        ssl_client_certificate /etc/nginx/certs/client-ca.pem;
        ssl_verify_client optional;
        location / {
            if ($ssl_client_verify != SUCCESS) { return 403; }
            proxy_pass http://127.0.0.1:8080;
        }
        location ~ "^/(?U)api.+x" {  # expect: MTLS914
            proxy_pass http://127.0.0.1:8080;
        }
    }
    ```

    ## Fix
    Check the path named by hand (or with `nginx-mtls-lint probe`), and write the construct so
    that it can be followed: here the ungreedy option changes nothing about which URIs match,
    so `^/api.+x` says the same. A server-level check covers every path whatever the
    locations:
    ```nginx
    if ($ssl_client_verify != SUCCESS) { return 403; }
    ```

    ## Verified
    With nginx 1.22.1 (Debian 12, OpenSSL 3.0) on loopback: the `(?U)` regex location serves
    a client without a certificate; the server-level check refuses it.
    Reproduce: `pytest -m nginx -k MTLS914`.
    """

    id = "MTLS914"
    name = "cannot-prove"
    severity = "warning"
    security_severity = "5.0"

    def check_server(self, server: Server, ctx: RuleContext) -> Iterator[Finding]:
        setting = server.verification.setting
        mode = server.verification.mode
        if setting is None or mode not in ("optional", "optional_no_ca") \
                or (server.cloudflare and server.cloudflare.fronted):
            return
        kinds = server.verification.verify_mode.followed_kinds
        flow = ctx.flow(server)
        if flow.open_paths(kinds):
            return  # a bypass is shown: the errors say so
        undecided = [p for p in flow.unsure_paths(kinds) if p.outcome.limit]
        if not undecided:
            return
        path = undecided[0]
        at = path.outcome.stmt or setting.stmt
        more = f" (and {len(undecided) - 1} more requests)" if len(undecided) > 1 else ""
        yield self.finding(
            at,
            f"{server.title} (`ssl_verify_client {mode}`{inherited(setting)}): whether "
            f"{path.client.label} requesting {path.uri} reaches content was not decided"
            f"{more}: {path.outcome.reason}. Not proven held: nginx may serve it.",
            "Write the construct named so that it can be followed, or add at server level: "
            "if ($ssl_client_verify != SUCCESS) { return 403; }", server,
            related=[evidence(setting, f"`ssl_verify_client {mode}`")], trace=finding_trace(path))
