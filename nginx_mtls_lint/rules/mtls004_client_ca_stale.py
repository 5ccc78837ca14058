from __future__ import annotations

import datetime as dt
from typing import Iterator

from ..cafile import CertInfo
from ..cloudflare import AOP_CA_2015, AOP_CAS
from ..findings import Finding
from ..model import Config
from . import Rule, RuleContext, client_ca_settings, where
from .fixes import AOP_CA_SOURCE


class ClientCaStale(Rule):
    """A client CA certificate has expired, is not yet valid, or expires soon.

    ## Why
    OpenSSL checks the validity dates of the trust anchor too: an expired CA in
    `ssl_client_certificate` makes nginx reject every client, even one whose own certificate
    is in date. The 2015 issue of Cloudflare's origin-pull CA (expired 2020-01-12) is still
    copied from old guides; with it, Cloudflare's own requests are rejected with 400.

    A file that holds both an expired and a current issue of the same CA works (OpenSSL picks
    the valid one); the expired copy is then reported as a note. Certificates expiring within
    30 days (configurable) are a warning.

    ## Example
    ```nginx
    server {
        listen 443 ssl;
        server_name www.example.com;
        ssl_certificate     /etc/nginx/certs/www.pem;
        ssl_certificate_key /etc/nginx/certs/www.key;
        ssl_client_certificate /etc/nginx/certs/origin-pull-ca-2015.pem;  # expect: MTLS004
        ssl_verify_client on;
    }
    ```

    ## Fix
    Replace the file with the current CA. For Cloudflare:
    `ssl_client_certificate /etc/nginx/certs/origin-pull-ca.pem;` holding the origin-pull CA
    valid until 2029-11-01.

    ## Verified
    With nginx 1.22.1 (Debian 12, OpenSSL 3.0) on loopback: an expired CA rejects a client
    whose own certificate is in date; the current CA lets it in.
    The expired 2015 Cloudflare CA itself cannot be exercised (no Cloudflare client
    certificate is available to tests); a generated expired CA stands in for it.
    Reproduce: `pytest -m nginx -k MTLS004`.
    """

    id = "MTLS004"
    name = "client-ca-stale"
    severity = "error"
    tags = ("reliability", "mtls", "cloudflare")
    security_severity = "4.0"

    def check(self, config: Config, ctx: RuleContext) -> Iterator[Finding]:
        soon = ctx.now + dt.timedelta(days=ctx.expiry_warning_days)
        for server, directive, setting in client_ca_settings(config):
            certs = ctx.ca_file(server, setting).certs
            valid_subjects = {c.subject for c in certs
                              if c.not_before <= ctx.now <= c.not_after}
            shown = f"`{directive} {setting.value}` at {where(setting)}"
            for cert in certs:
                name = describe(cert)
                fix = "Replace it with the current issue of the CA." + (
                    " " + AOP_CA_SOURCE if cert.sha256 in AOP_CAS else "")
                if cert.not_after < ctx.now:
                    expired = f"{name} expired on {cert.not_after:%Y-%m-%d}"
                    if cert.subject in valid_subjects:
                        yield self.finding(
                            setting.stmt,
                            f"{shown}: {expired}; a valid issue of the same CA in the file "
                            "keeps verification working. Remove the stale copy.",
                            "Delete the expired certificate from the file.", server,
                            severity="note")
                    else:
                        yield self.finding(
                            setting.stmt,
                            f"{shown}: {expired}, so nginx rejects every client "
                            "certificate it issued (Cloudflare's requests get 400).",
                            fix, server)
                elif cert.not_before > ctx.now:
                    yield self.finding(
                        setting.stmt,
                        f"{shown}: {name} is not valid before {cert.not_before:%Y-%m-%d}; "
                        "until then nginx rejects every client certificate it issued.",
                        "Check the system clock and the certificate's dates.", server)
                elif cert.not_after < soon:
                    yield self.finding(
                        setting.stmt,
                        f"{shown}: {name} expires on {cert.not_after:%Y-%m-%d}; after that "
                        "nginx rejects every client certificate it issued.",
                        fix, server, severity="warning")


def describe(cert: CertInfo) -> str:
    if cert.sha256 == AOP_CA_2015:
        return "the 2015 issue of the Cloudflare origin-pull CA"
    if cert.sha256 in AOP_CAS:
        return "the Cloudflare origin-pull CA"
    return f"the CA certificate {cert.subject or '(empty subject)'}"
