from __future__ import annotations

from typing import Iterator

from ..findings import Finding
from ..model import LET_THROUGH, VERIFY_VARIABLE, Config, Handler, Server, unrejected
from . import Rule, RuleContext, optional_in_scope, where
from .fixes import SERVER_HANDLER, server_handler_fix

DN_VARIABLES = ("$ssl_client_s_dn", "$ssl_client_i_dn")


class RejectionHandlerMissing(Rule):
    """With `optional` verification, some requests reach content without a certificate check.

    ## Why
    Under `ssl_verify_client optional` a client that sends no certificate reaches the
    rewrite phase with `$ssl_client_verify` = `NONE`; under `optional_no_ca` a self-signed or
    foreign certificate arrives as `FAILED:<reason>` too. Only a handler that rejects every
    such value keeps them out:

    - at server level it runs before any location is chosen, so it covers everything;
    - in a location it covers that location only (not nested or sibling locations, and not
      requests that match no location at all);
    - `= FAILED` never matches (nginx sets `FAILED:<reason>`), `~ FAILED` lets `NONE`
      through, and checks on `$ssl_client_s_dn` / `$ssl_client_i_dn` alone are passed by a
      self-signed certificate carrying the expected names.

    Reported for Cloudflare-fronted servers, and for any server with `optional_no_ca` when
    nothing reads `$ssl_client_*`.

    ## Example
    ```nginx
    server {
        listen 443 ssl;
        server_name app.example.com;
        real_ip_header CF-Connecting-IP;
        ssl_certificate     /etc/nginx/certs/app.pem;
        ssl_certificate_key /etc/nginx/certs/app.key;
        ssl_client_certificate /etc/nginx/certs/origin-pull-ca.pem;
        ssl_verify_client optional;  # expect: MTLS002
        location / {
            if ($ssl_client_verify != SUCCESS) { return 403; }
            proxy_pass http://127.0.0.1:8080;
        }
        location /static/ {  # expect: MTLS006
            root /srv/app;
        }
    }
    ```

    ## Fix
    Put one handler at server level, where it covers every location:
    ```nginx
    if ($ssl_client_verify != SUCCESS) { return 403; }
    ```
    or use `ssl_verify_client on;` and no handler at all.

    ## Verified
    With nginx 1.22.1 (Debian 12, OpenSSL 3.0) on loopback: a handler in one location leaves
    the others open to a client without a certificate; the server-level handler closes every
    location.
    Reproduce: `pytest -m nginx -k MTLS006`.
    """

    id = "MTLS006"
    name = "rejection-handler-missing"
    severity = "error"
    tags = ("security", "cloudflare", "mtls", "external/cwe/cwe-287")
    security_severity = "8.1"

    def check(self, config: Config, ctx: RuleContext) -> Iterator[Finding]:
        for server in config.servers:
            if not optional_in_scope(server):
                continue
            mode, _ = server.verify_mode()
            if server.server_return is not None:
                continue  # a server-level return answers every request before any content
            missing = unrejected(server.handlers, LET_THROUGH[mode], server.maps)
            if missing:
                yield from self._uncovered(server, mode, tuple(missing), ctx)

    def _uncovered(self, server: Server, mode: str, missing: tuple[str, ...],
                   ctx: RuleContext) -> Iterator[Finding]:
        lets = " and ".join(dict.fromkeys(v.split(":")[0] for v in missing))
        fix = f"Add at server level: {SERVER_HANDLER}  (or use ssl_verify_client on;)"
        flawed = list(self._flawed_handlers(server, mode, missing))
        for handler, why in flawed:
            yield self.finding(handler.if_stmt, f"`if ({' '.join(handler.condition)})` at "
                               f"{where(handler.if_stmt)} {why}.", fix, server,
                               fixes=server_handler_fix(ctx.source, server))
        content = [loc for loc in server.all_locations() if loc.serves_content]
        covered = [loc for loc in content if not unrejected(loc.handlers, missing, server.maps)]
        if not covered:
            if not flawed:
                yield self.finding(
                    server.stmt,
                    f"{server.label} uses `ssl_verify_client {mode}` and no handler rejects "
                    f"{lets}: every location is served to clients without a valid certificate.",
                    fix, server, fixes=server_handler_fix(ctx.source, server))
            return
        for loc in content:
            if loc not in covered:
                yield self.finding(
                    loc.stmt,
                    f"`location {loc.label}` in {server.label} has no handler rejecting {lets}: "
                    "the checks in other locations do not apply here, so a client without a "
                    "valid certificate gets this location's content.", fix, server,
                    fixes=server_handler_fix(ctx.source, server))
        if not any(loc.catch_all for loc in server.locations):
            yield self.finding(
                server.stmt,
                f"{server.label} has no `location /`: requests matching no location are "
                f"served from its root without a `$ssl_client_verify` check.", fix, server,
                fixes=server_handler_fix(ctx.source, server))

    def _flawed_handlers(self, server: Server, mode: str,
                         missing: tuple[str, ...]) -> Iterator[tuple[Handler, str]]:
        for handler in server.handlers:
            if not handler.condition:
                continue
            variable = handler.condition[0]
            if variable in DN_VARIABLES and mode == "optional_no_ca":
                yield handler, ("checks only the certificate's names: under optional_no_ca a "
                                "self-signed certificate carrying those names passes")
            elif handler.rejects and handler.matches(VERIFY_VARIABLE, "SUCCESS",
                                                     server.maps) is not None:
                passes = [v for v in missing
                          if not handler.matches(VERIFY_VARIABLE, v, server.maps)]
                if passes:
                    shown = " and ".join(dict.fromkeys(v.split(":")[0] for v in passes))
                    never = " (nginx sets FAILED:<reason>, never plain FAILED)" \
                        if handler.condition[1:] == ["=", "FAILED"] else ""
                    yield handler, f"lets {shown} through{never}"
