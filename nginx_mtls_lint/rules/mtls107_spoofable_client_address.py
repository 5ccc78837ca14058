from __future__ import annotations

from typing import Iterator

from ..findings import Finding
from ..flow import SPOOFED, Cause, Path, Step
from ..model import Server
from . import Rule, RuleContext, evidence, finding_trace, inherited, quoted

class SpoofableClientAddress(Rule):
    """`set_real_ip_from` trusts addresses any client can connect from, and an address check depends on it.

    ## Why
    realip replaces `$remote_addr` with the address in `real_ip_header` only for
    connections from the `set_real_ip_from` ranges. Trust `0.0.0.0/0` (or a public range
    that is not Cloudflare's) and a direct client sends `CF-Connecting-IP: <any address>`
    and becomes that address: it passes `allow <Cloudflare ranges>`, a `geo` on
    `$remote_addr`, and `satisfy any` + `allow <internal range>`, which then skips the
    certificate check. Private ranges (an internal load balancer) are not reported, nor
    a server whose certificates hold whatever the address (`ssl_verify_client on`, or a
    check before the access phase, and no plain-HTTP listener).

    ## Example
    ```nginx
    server {
        listen 443 ssl;
        server_name app.example.com;
        ssl_certificate     /etc/nginx/certs/server.pem;
        ssl_certificate_key /etc/nginx/certs/server.key;
        ssl_client_certificate /etc/nginx/certs/internal-ca.pem;
        ssl_verify_client optional;
        real_ip_header X-Forwarded-For;
        set_real_ip_from 0.0.0.0/0;  # expect: MTLS107
        satisfy any;
        allow 10.0.0.0/8;
        deny all;
        location / {
            proxy_set_header X-Client-Verify $ssl_client_verify;
            proxy_pass http://127.0.0.1:8080;
        }
    }
    ```

    ## Fix
    Trust only the proxies in front of nginx (Cloudflare's published ranges):
    ```nginx
    set_real_ip_from 173.245.48.0/20;  # ... every range of https://www.cloudflare.com/ips/
    ```
    and check `$realip_remote_addr` where the connection's own address matters.

    ## Verified
    With nginx 1.22.1 (Debian 12, OpenSSL 3.0): with `set_real_ip_from 0.0.0.0/0` a direct
    client sending `CF-Connecting-IP` with an allowed address passes the allow-list; with the
    Cloudflare ranges only, the header from a direct client is ignored (403). Behind
    `ssl_verify_client on` (400) or a server-level check (403) the spoofed address gets
    nothing: fixtures/flow/realip_from_everywhere_satisfy_any_{verify_on,server_check}.
    Reproduce: `pytest -m nginx -k MTLS107`.
    """

    id = "MTLS107"
    name = "spoofable-client-address"
    severity = "error"
    tags = ("security", "external/cwe/cwe-290")
    security_severity = "8.1"
    causes = frozenset((Cause.SPOOFED,))

    def check_server(self, server: Server, ctx: RuleContext) -> Iterator[Finding]:
        if server.setting("real_ip_header") is None:
            return  # no realip: no address to forge, nothing to simulate
        # (a path the forged address opens and the application may still refuse: the
        # address check it passed is bypassed all the same)
        paths = self.owned_paths(server, ctx, server.verification.verify_mode.followed_kinds,
                                 unsure=True)
        if server.exposed_plain_listens:
            paths += self.owned_paths(server, ctx, ("plain",), tls=False, unsure=True)
        for path in paths:  # one finding: the first path the forged address opens
            trusting = path.outcome.through("set_real_ip_from")
            decided = deciding_step(path)
            if trusting is None or decided is None or decided.stmt is None:
                continue
            check = decided.stmt
            setting = next((s for s in server.settings("set_real_ip_from") if s.stmt is trusting),
                           trusting)
            yield self.finding(
                trusting,
                f"`set_real_ip_from {' '.join(trusting.args)}`{inherited(setting)} "
                f"trusts addresses any client can connect from: a direct client sends the "
                f"real-IP header with the address it likes and passes {quoted(check)}.",
                "Trust only Cloudflare's ranges: set_real_ip_from <each range of "
                "https://www.cloudflare.com/ips/>;", server, trace=finding_trace(path),
                related=[evidence(check, f"{quoted(check)} reads the spoofed address")])
            return


def deciding_step(path: Path) -> Step | None:
    """The step the forged address decided: the one right after the flow's fork on it."""
    trace = path.outcome.trace
    return next((trace[i + 1] for i, step in enumerate(trace[:-1]) if step.label == SPOOFED),
                None)
