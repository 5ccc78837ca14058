from __future__ import annotations

from typing import Iterator

from ..findings import Finding
from ..model import Server
from . import (Rule, RuleContext, evidence, finding_trace, inherited, unmodelled_at,
               unmodelled_evidence)


class CannotProve(Rule):
    """The analysis could not decide whether a client without a valid certificate reaches
    content: a budget was spent, or the configuration uses a construct it does not model.

    ## Why
    A server is reported as held only when every path a client can force has been followed
    to its end. When a decision on such a path rests on something the analysis does not
    model, the answer for that request is "cannot prove", never "held": nginx may serve it.
    That is a regex in PCRE syntax that cannot be run faithfully, a location no URI could be
    made for, more paths or URIs than its budget; a file test (`if (-f ...)`); a variable
    whose value nginx computes from what the configuration does not tell (`$geoip_*`,
    `$secure_link`, one set by `perl_set`, `js_set`, `split_clients` or a module nginx does
    not ship); a module's code that answers or checks (`perl`, `js_content`,
    `content_by_lua*`, `access_by_lua*` whose code reads the certificate or lives in a
    file); an `auth_request` whose auth service answers. The message names what was not
    decided; its location is a related one. Directives the catalogue marks modelled never give this warning.

    Reported for servers that verify client certificates, when no other finding already
    shows a bypass, and not for Cloudflare-fronted servers (MTLS001 and MTLS002 warn there
    with the same reason).

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
        verification = server.verification
        setting, mode = verification.setting, verification.mode
        if setting is None or not verification.verifies \
                or (server.cloudflare and server.cloudflare.fronted):
            return  # (Cloudflare-fronted: the rules owning those servers warn with the reason)
        kinds = verification.verify_mode.followed_kinds
        flow = ctx.flow(server)
        if flow.open_paths(kinds):
            return  # a bypass is shown: the errors say so
        undecided = [p for p in flow.unsure_paths(kinds) if p.outcome.limit]
        if not undecided:
            return
        path = undecided[0]
        decided_at = unmodelled_at(path)
        at = decided_at or path.outcome.stmt or setting.stmt
        more = f" (and {len(undecided) - 1} more requests)" if len(undecided) > 1 else ""
        yield self.finding(
            at,
            f"{server.title} (`ssl_verify_client {mode}`{inherited(setting)}): whether "
            f"{path.client.label} requesting {path.uri} reaches content was not decided"
            f"{more}: {path.outcome.reason}. Not proven held: nginx may serve it.",
            "Write the construct named so that it can be followed, or add at server level: "
            "if ($ssl_client_verify != SUCCESS) { return 403; }", server,
            related=[evidence(setting, f"`ssl_verify_client {mode}`"),
                     *unmodelled_evidence(path)], trace=finding_trace(path))
