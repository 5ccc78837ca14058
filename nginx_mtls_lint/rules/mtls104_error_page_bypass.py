from __future__ import annotations

from typing import Iterator

from ..findings import Finding
from ..flow import Cause
from ..model import ErrorPage, Server
from . import (Rule, RuleContext, finding_trace, inherited_from_http, served, served_evidence)
from .fixes import make_fix, without_codes

# Errors nginx raises before (400), instead of (495, 496) or without (497) a certificate check.
BYPASS_CODES = {"400": "a malformed request (a header line without a colon) is answered with "
                       "400 before the certificate check",
                "495": "a client with a bad certificate is sent here",
                "496": "a client without a certificate is sent here",
                "497": "plain HTTP sent to the TLS port is sent here"}
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

    Only `error_page` at server or http level counts for these: nginx ignores a location's
    `error_page` for errors raised before a location is chosen.

    The same holds for the codes the server's own checks return (403, 401, 404, ...): an
    `error_page` for them to a named location (`error_page 403 = @app;`) skips the checks and
    serves that location; to a URI the request is redirected internally and the server's
    checks run again (safe). A location's own `error_page` applies to a `return` in that
    location. With `proxy_intercept_errors on`, the application's own refusal goes through
    `error_page` too. The linter follows each of these paths as nginx does.

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
    causes = frozenset((Cause.ERROR_PAGE,))

    def check_server(self, server: Server, ctx: RuleContext) -> Iterator[Finding]:
        if not (server.tls_on and server.verifies_clients):
            return
        if not any(True for _ in server.settings("error_page")) and not any(
                loc.scope.first("error_page") for loc in server.all_locations()):
            return  # no error page: nothing to follow
        kinds = ["malformed", "none", "failed"] + (["tls-port-plain"] if server.tls_on
                                                  else [])
        reported: set[int] = set()
        for path in self.owned_paths(server, ctx, tuple(kinds)):
            page = path.outcome.through("error_page")
            if page is None or id(page) in reported:
                continue
            reported.add(id(page))
            codes = ErrorPage.of(page).codes
            why = next((BYPASS_CODES[c] for c in codes if c in BYPASS_CODES), None) or (
                f"{path.client.label} is answered with an error that this page handles")
            yield self.finding(
                page,
                f"`error_page {' '.join(page.args)}` in "
                f"{server.title}: {why}, and the error page serves {served(path)}: "
                f"the protected content is served without a valid certificate.",
                fix_text(codes), server,
                related=[*inherited_from_http(server, page), *served_evidence(path)],
                trace=finding_trace(path),
                fixes=make_fix(f"drop {' '.join(codes)} from this error_page (nginx answers "
                               "them itself)", without_codes(ctx.source, page, set(codes))))


def fix_text(codes: list[str]) -> str:
    """The edit that closes an error page's bypass: the certificate errors to a dedicated
    internal page (497 to a redirect), other codes to a URI that runs the checks again."""
    bypass = [c for c in codes if c in BYPASS_CODES]
    if bypass:
        return ("error_page " + " ".join(c for c in bypass if c != "497") +
                " =403 /cert-required.html;  with  location = /cert-required.html "
                "{ internal; root /usr/share/nginx/errors; }" +
                ("; for 497: error_page 497 =301 https://$host$request_uri;"
                 if "497" in codes else ""))
    return (f"Send {' '.join(codes)} to a URI (`error_page {' '.join(codes)} "
            "/errors/denied.html;`, which runs the checks again) or to a "
            "location that only returns a fixed answer, never to the site's content.")
