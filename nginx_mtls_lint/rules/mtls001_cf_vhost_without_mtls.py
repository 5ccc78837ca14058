from __future__ import annotations

from typing import Iterator

from ..findings import Finding
from ..model import Config
from . import Rule, RuleContext, where
from .fixes import AOP_CA_SOURCE, ENFORCE_AOP


class CfVhostWithoutMtls(Rule):
    """A Cloudflare-fronted server accepts TLS clients without verifying a client certificate.

    ## Why
    Cloudflare's WAF, rate limits and access rules only apply to requests that go through
    Cloudflare. Anyone who learns the origin's IP address (certificate transparency logs,
    IPv4 scans, old DNS records) can connect to it directly. Authenticated Origin Pulls close
    that path: Cloudflare presents its client certificate, and nginx rejects every client
    that does not. Without `ssl_verify_client on` the origin serves everyone.

    `proxy_ssl_certificate` and `proxy_ssl_verify` do not help: they authenticate nginx to its
    upstream, not clients to nginx.

    The server is treated as Cloudflare-fronted when it shows a Cloudflare signal
    (`real_ip_header CF-Connecting-IP`, `set_real_ip_from` with a Cloudflare range,
    `$http_cf_connecting_ip`, an origin-pull CA, a `# nginx-mtls-lint: cloudflare`
    annotation or a command-line host pattern). Servers that listen only on loopback or unix
    sockets cannot be reached around Cloudflare and are not reported.

    ## Example
    ```nginx
    server {
        listen 443 ssl;
        server_name shop.example.com;
        ssl_certificate     /etc/nginx/certs/shop.pem;
        ssl_certificate_key /etc/nginx/certs/shop.key;
        real_ip_header CF-Connecting-IP;
        proxy_ssl_verify on;  # expect: MTLS001
        location / { proxy_pass http://127.0.0.1:8080; }
    }
    ```

    ## Fix
    Enable Authenticated Origin Pulls for the zone in Cloudflare, then:
    ```nginx
    ssl_client_certificate /etc/nginx/certs/origin-pull-ca.pem;  # Cloudflare origin-pull CA
    ssl_verify_client on;
    ```
    Turn on enforcement in nginx only after Cloudflare sends the certificate, or every
    visitor gets nginx's 400 page.

    ## Verified
    With nginx 1.22.1 (Debian 12, OpenSSL 3.0) on loopback: a client without a certificate
    gets the content; with the printed fix (the real origin-pull CA, `on`) every client
    without a Cloudflare certificate is rejected.
    Reproduce: `pytest -m nginx -k MTLS001`.
    """

    id = "MTLS001"
    name = "cf-vhost-without-mtls"
    severity = "error"
    tags = ("security", "cloudflare", "external/cwe/cwe-306")
    security_severity = "8.6"

    def check(self, config: Config, ctx: RuleContext) -> Iterator[Finding]:
        for server in config.servers:
            if not (server.cloudflare.fronted and server.exposed_tls):
                continue
            mode, setting = server.verify_mode()
            if mode != "off":
                continue
            signal = server.cloudflare.signals[0].describe()
            proxy = server.setting("proxy_ssl_certificate") or server.setting("proxy_ssl_verify")
            if setting is not None:
                at, said = setting.stmt, f"`ssl_verify_client off` at {where(setting)}"
            elif proxy is not None:
                at, said = proxy.stmt, (
                    f"`{proxy.stmt.name}` at {where(proxy)} authenticates nginx to its "
                    "upstream, not clients to nginx, and no `ssl_verify_client` is set")
            else:
                at, said = server.stmt, "no `ssl_verify_client` is set"
            yield self.finding(
                at,
                f"{server.label} is fronted by Cloudflare ({signal}) but {said}: anyone who "
                f"finds the origin's address reaches it directly, skipping Cloudflare.",
                f"Add to the server block:\n{ENFORCE_AOP}\n{AOP_CA_SOURCE}",
                server,
            )
