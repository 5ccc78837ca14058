from __future__ import annotations

import ipaddress
from typing import Iterator

from ..cloudflare import is_cloudflare_range
from ..findings import Finding
from ..flow import Cause
from ..model import Server, walk
from . import Rule, RuleContext, where

# Addresses a direct client on the internet cannot connect from.
PRIVATE = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16",
    "100.64.0.0/10", "::1/128", "fc00::/7", "fe80::/10"))


def reachable_from_outside(text: str) -> bool:
    """A `set_real_ip_from` range that includes addresses a direct client can use."""
    if text.startswith("unix:"):
        return False
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    if is_cloudflare_range(text):
        return False
    return not any(network.version == p.version and network.subnet_of(p)  # type: ignore[arg-type]
                   for p in PRIVATE)


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
            return
        wide = next((s for s in server.settings("set_real_ip_from")
                     if reachable_from_outside(s.value)), None)
        if wide is None:
            return
        depends = self._address_check(server)
        if depends is None or self._certificates_hold(server, ctx):
            return
        yield self.finding(
            wide.stmt,
            f"`set_real_ip_from {wide.value}` at {where(wide)} trusts addresses any "
            f"client can connect from: a direct client sends the real-IP header with the "
            f"address it likes and passes `{depends.name} {' '.join(depends.args)}` at "
            f"{depends.file}:{depends.line}.",
            "Trust only Cloudflare's ranges: set_real_ip_from <each range of "
            "https://www.cloudflare.com/ips/>;", server)

    @staticmethod
    def _certificates_hold(server: Server, ctx: RuleContext) -> bool:
        """A verifying server without a plain-HTTP listener where no client the handshake
        lets through without a valid certificate reaches content, spoofed address or not
        (`on`, or a check before the access phase): the address decides nothing."""
        if not server.verifies_clients or server.exposed_plain_listens:
            return False
        flow = ctx.flow(server)
        kinds = server.verification.verify_mode.followed_kinds
        return not flow.open_paths(kinds) and not flow.unsure_paths(kinds)

    @staticmethod
    def _address_check(server: Server):
        """The first `allow`, `satisfy any` or `geo`-based `if` that reads $remote_addr."""
        geos = {name for name, geo in server.http.geos().items() if geo.source == "$remote_addr"}
        for scope_stmt in [*server.http.all("allow"), *server.http.all("satisfy")]:
            if scope_stmt.name == "allow" or scope_stmt.args[:1] == ["any"]:
                return scope_stmt
        for stmt in walk(server.stmt.block):
            if stmt.name == "allow" and stmt.args[:1] != ["all"]:
                return stmt
            if stmt.name == "satisfy" and stmt.args[:1] == ["any"]:
                return stmt
            if stmt.name == "if" and any(a.lstrip("$") in {g.lstrip("$") for g in geos}
                                         or a == "$remote_addr" for a in stmt.args):
                return stmt
        return None
