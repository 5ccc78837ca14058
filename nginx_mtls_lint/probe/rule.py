"""MTLS110: what `probe --from-config` reports, documented like every rule."""

from __future__ import annotations

from ..rules import Rule


class LiveDisagreement(Rule):
    """The running origin answers a request otherwise than the configuration says it would.

    ## Why
    The configuration in the repository is not always what nginx runs: a reload that failed
    leaves the old configuration running, a file edited on the host, a package default, a
    load balancer or firewall in front that changes what arrives. `probe --from-config
    CONFIG --target ADDRESS` derives from the analysis of CONFIG the requests that decide
    each server's verdict (SNI and Host spellings, no SNI, certificates of each kind, plain
    HTTP, the URIs and methods the request flow found decisive), predicts nginx's answer to
    each and sends them, bounded, to the target. Reported at the configuration line that made
    the prediction: as an error when the origin served content the configuration refuses
    (the running origin is open whatever the file says), as a warning when a path the
    analysis found open was refused (drift, something in between, or a false alarm of the
    analysis: the message says which evidence points where). Only live: a static lint never
    gives it.

    ## Example
    The file says every client needs Cloudflare's origin-pull certificate:
    ```nginx
    server {
        listen 443 ssl;
        server_name shop.example.com;
        ssl_certificate     /etc/ssl/shop/fullchain.pem;
        ssl_certificate_key /etc/ssl/shop/privkey.pem;
        ssl_client_certificate /etc/ssl/cloudflare/origin-pull-ca.pem;
        ssl_verify_client on;  # MTLS110 here when the origin serves a client without one
        root /srv/shop/public;
    }
    ```
    while the running nginx still has `ssl_verify_client optional;` from before a reload
    that failed: `probe --from-config` gets the content without a certificate where the
    analysis predicts 400, and reports MTLS110 at the `ssl_verify_client` line.

    ## Fix
    Make the running origin what the file says: `nginx -t` and reload (and read why the last
    reload failed), or deploy the file; for a device in front, check what it forwards. When
    the running configuration is right and the prediction wrong, report the request with the
    output of `nginx-mtls-lint trace`.

    ## Verified
    Each labelled flow case of a selection covering every rule, run in a private network
    namespace on Debian's nginx 1.22.1 and upstream 1.26.2, 1.28.0 and 1.30.4: no
    disagreement for the configuration nginx runs, resumed TLS 1.3 sessions (predicted from
    `--nginx-version`), malformed requests, forged address headers, absolute URIs and
    Cloudflare-source connections included, and `stream {}` servers (a handshake with each
    certificate kind, then a request through them); MTLS110 when the running copy's
    `ssl_verify_client` (http or stream), session tickets, error pages, realip or allow list
    differ, or a relay in front answers.
    Reproduce: `pytest -m nginx -k MTLS110`.
    """

    id = "MTLS110"
    name = "live-disagrees-with-config"
    tags = ("security", "mtls", "live")
    # severity error and precision high: the Rule defaults (a refused bypass is a warning)


def live_rules() -> list[type[Rule]]:
    """Rules only `probe --from-config` gives (documented, never run by the static lint)."""
    return [LiveDisagreement]
