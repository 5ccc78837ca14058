from __future__ import annotations

import re
from typing import Iterator

from ..findings import Finding
from ..model import Config, ErrorPage, Server
from . import Rule, RuleContext, inherits, where
from .fixes import make_fix, without_codes

# Errors nginx raises before (400), instead of (495, 496) or without (497) a certificate check.
BYPASS_CODES = {"400": "a malformed request (a header line without a colon) is answered with "
                       "400 before the certificate check",
                "495": "a client with a bad certificate is sent here",
                "496": "a client without a certificate is sent here",
                "497": "plain HTTP sent to the TLS port is sent here"}
SITE_PAGE = re.compile(r"(^|/)(index\.[a-z]+)?$")


def leak(server: Server, page: ErrorPage) -> str | None:
    """How the error page's target serves the protected content, or None if it does not."""
    if page.external:
        return None
    target = page.target
    if target.startswith("@"):
        named = server.named_location(target[1:])
        if named is None or named.fixed_response:
            return None
        return f"named location `@{named.pattern}` at {where(named.stmt)} serves it"
    uri = target.split("?", 1)[0]
    if "$" in uri:
        uri = "/"  # a variable target can be any page of the site
    location = server.find_location(uri)
    if location is None:
        if SITE_PAGE.search(uri):
            return f"{uri} is the site's own page, served from its root"
        return None
    shown = f"`location {location.label}` at {where(location.stmt)}"
    if location.fixed_response:
        return None
    if location.dynamic:
        return f"{shown} hands it to the application"
    if SITE_PAGE.search(uri):
        return f"{shown} serves the site's own {uri}"
    return None  # a dedicated static error file


class ErrorPageBypass(Rule):
    """An `error_page` for 400, 495, 496 or 497 serves the protected content.

    ## Why
    A client without a valid certificate gets an internal 496 (none) or 495 (bad); plain
    HTTP on a TLS port gets 497; and a malformed request (a header line without a colon)
    gets 400 *before* the certificate is checked. An `error_page` for those codes makes
    nginx serve its target instead, and the internal redirect never checks a certificate.
    The body is sent whatever the status: `error_page 495 496 /index.html;` (status stays
    400) leaks as much as `= /index.html`. What matters is what the target serves:

    - safe: an external redirect, a location that `return`s a fixed answer, a dedicated
      static error file (`/errors/cert.html` in its own or the root location);
    - leaks: a named location or URI served by the site's application (`proxy_pass`,
      `fastcgi_pass`, `try_files`, ...), or the site's own `/` or `index` page.

    Only `error_page` at server or http level counts: nginx ignores a location's
    `error_page` for these errors, which are raised before a location is chosen.

    ## Example
    ```nginx
    server {
        listen 443 ssl;
        server_name app.example.com;
        ssl_certificate     /etc/nginx/certs/server.pem;
        ssl_certificate_key /etc/nginx/certs/server.key;
        ssl_client_certificate /etc/nginx/certs/internal-ca.pem;
        ssl_verify_client on;
        error_page 495 496 = @app;  # expect: MTLS104
        location / { proxy_pass http://127.0.0.1:8080; }
        location @app { proxy_pass http://127.0.0.1:8080; }
    }
    ```

    ## Fix
    Answer these errors with a fixed response:
    ```nginx
    error_page 495 496 =403 /cert-required.html;
    location = /cert-required.html { internal; root /usr/share/nginx/errors; }
    error_page 497 =301 https://$host$request_uri;
    ```
    or remove the `error_page` and let nginx answer 400.

    ## Verified
    With nginx 1.22.1 (Debian 12, OpenSSL 3.0) on loopback: `error_page 496 = /index.html`,
    `error_page 495 496 /index.html` (status 400, body sent), `error_page 400 = /index.html`
    with a malformed request, and `error_page 497` with plain HTTP all serve the content;
    `=403` to a dedicated internal file and a redirect for 497 do not; a location's own
    `error_page` is ignored for these errors.
    Reproduce: `pytest -m nginx -k MTLS104`.
    """

    id = "MTLS104"
    name = "error-page-bypass"
    severity = "error"
    tags = ("security", "mtls", "external/cwe/cwe-288")
    security_severity = "8.6"

    def check(self, config: Config, ctx: RuleContext) -> Iterator[Finding]:
        reported: set[tuple[int, int]] = set()
        for server in config.servers:
            if not (server.tls_on and server.verifies_clients):
                continue
            for page in server.error_pages():
                codes = [c for c in page.codes if c in BYPASS_CODES]
                how = leak(server, page) if codes else None
                if how is None or (id(page.stmt), id(server)) in reported:
                    continue
                reported.add((id(page.stmt), id(server)))
                yield self.finding(
                    page.stmt,
                    f"`error_page {' '.join(page.stmt.args)}` at {where(page)} in "
                    f"{server.label}: {BYPASS_CODES[codes[0]]}, "
                    f"and {how}: the protected content is served without a valid "
                    "certificate.",
                    "error_page " + " ".join(c for c in codes if c != "497") +
                    " =403 /cert-required.html;  with  location = /cert-required.html "
                    "{ internal; root /usr/share/nginx/errors; }" +
                    ("; for 497: error_page 497 =301 https://$host$request_uri;"
                     if "497" in codes else ""), server, related=inherits(server, page),
                    fixes=make_fix(f"drop {' '.join(codes)} from this error_page (nginx answers "
                                   "them with 400 itself)",
                                   without_codes(ctx.source, page.stmt, set(codes))))
