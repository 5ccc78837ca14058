from __future__ import annotations

from typing import Iterator

from ..findings import Finding
from ..model import LET_THROUGH, Config, unrejected
from . import (Rule, RuleContext, ca_evidence, cloudflare_evidence, inherits, optional_in_scope,
               where)
from .fixes import AOP_CA_PATH, SERVER_HANDLER, insert_after, make_fix, replace_word


class VerifyClientNotOn(Rule):
    """`ssl_verify_client optional` or `optional_no_ca` lets clients without a valid certificate in.

    ## Why
    With `optional`, nginx completes the request when the client sends no certificate
    (`$ssl_client_verify` is `NONE`). With `optional_no_ca` it also accepts a self-signed
    certificate or one from any other CA (`FAILED:...`). Unless a handler rejects those
    values before any content is served, the origin is open to direct connections.

    Reported as an error when no server-level handler covers every value the mode lets
    through, and as a warning when one does (the setup holds, but `on` says the same thing
    without depending on the handler). `optional_no_ca` with no CA at all authenticates
    nobody and is always an error. On servers that are not Cloudflare-fronted the rule only
    reports `optional_no_ca` when nothing in the server reads `$ssl_client_*` at all.

    ## Example
    ```nginx
    server {  # expect: MTLS006
        listen 443 ssl;
        server_name api.example.com;
        real_ip_header CF-Connecting-IP;
        ssl_certificate     /etc/nginx/certs/api.pem;
        ssl_certificate_key /etc/nginx/certs/api.key;
        ssl_client_certificate /etc/nginx/certs/origin-pull-ca.pem;
        ssl_verify_client optional;  # expect: MTLS002
        location / { proxy_pass http://127.0.0.1:8080; }
    }
    ```

    ## Fix
    ```nginx
    ssl_verify_client on;
    ```
    If `optional` is needed (for a custom error page), reject everything else at server level:
    `if ($ssl_client_verify != SUCCESS) { return 403; }`.

    ## Verified
    With nginx 1.22.1 (Debian 12, OpenSSL 3.0) on loopback: under `optional` a client
    without a certificate gets the content while a certificate from another CA is still
    refused; `on` rejects it and a valid client still gets in.
    Reproduce: `pytest -m nginx -k MTLS002`.
    """

    id = "MTLS002"
    name = "verify-client-not-on"
    severity = "error"
    tags = ("security", "cloudflare", "mtls", "external/cwe/cwe-295")
    security_severity = "8.1"

    def check(self, config: Config, ctx: RuleContext) -> Iterator[Finding]:
        for server in config.servers:
            if not optional_in_scope(server):
                continue
            mode, setting = server.verify_mode()
            fix = (f"ssl_verify_client on;  # or keep {mode} and add at server level: "
                   f"{SERVER_HANDLER}")
            to_on = replace_word(ctx.source, setting.stmt, 1, "on")
            fixes = make_fix(f"`ssl_verify_client on` (refuses visitors while Cloudflare does "
                             "not send its certificate)", to_on, unsafe=True)
            related = [*cloudflare_evidence(server), *ca_evidence(server),
                       *inherits(server, setting)]
            if not server.cloudflare.fronted:
                yield self.finding(
                    setting.stmt,
                    f"`ssl_verify_client optional_no_ca` at {where(setting)} and nothing in "
                    f"{server.label} reads $ssl_client_verify: any certificate, or none, is "
                    "accepted, so the server authenticates nobody.", fix, server,
                    fixes=fixes, related=related)
                continue
            if mode == "optional_no_ca" and not server.client_ca_settings():
                yield self.finding(
                    setting.stmt,
                    f"`ssl_verify_client optional_no_ca` at {where(setting)} with no CA file: "
                    f"{server.label} cannot tell Cloudflare from anyone else.",
                    "ssl_client_certificate /etc/nginx/certs/origin-pull-ca.pem;\n"
                    "ssl_verify_client on;", server, related=related,
                    fixes=make_fix("verify against the origin-pull CA", to_on, insert_after(
                        ctx.source, setting.stmt, f"ssl_client_certificate {AOP_CA_PATH};")))
                continue
            let_through = " or ".join(dict.fromkeys(v.split(":")[0] for v in LET_THROUGH[mode]))
            if unrejected(server.handlers, LET_THROUGH[mode], server.maps):
                yield self.finding(
                    setting.stmt,
                    f"`ssl_verify_client {mode}` at {where(setting)} on Cloudflare-fronted "
                    f"{server.label}, and no server-level handler rejects {let_through}: a "
                    "direct client without a valid certificate gets in.",
                    fix, server, fixes=fixes, related=related)
            else:
                yield self.finding(
                    setting.stmt,
                    f"`ssl_verify_client {mode}` at {where(setting)}: a server-level "
                    f"`$ssl_client_verify` handler covers it, but `on` needs no handler.",
                    "ssl_verify_client on;", server, severity="warning", related=related,
                    fixes=make_fix("`ssl_verify_client on` (the handler already refuses the "
                                   "same clients)", to_on))
