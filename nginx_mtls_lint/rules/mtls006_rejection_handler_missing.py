from __future__ import annotations

from typing import Iterator

from ..findings import Finding
from ..flow import Cause, Path
from ..model import Server
from ..parser import Stmt
from . import (Rule, RuleContext, certificate_check, finding_trace,
               optional_in_scope, served, served_evidence)
from .fixes import SERVER_HANDLER, server_handler_fix

FIX = f"Add at server level: {SERVER_HANDLER}  (or use ssl_verify_client on;)"


class RejectionHandlerMissing(Rule):
    """With `optional` verification, a certificate check written for a path does not hold.

    ## Why
    Under `ssl_verify_client optional` a client that sends no certificate reaches the
    rewrite phase with `$ssl_client_verify` = `NONE`; under `optional_no_ca` a self-signed or
    foreign certificate arrives as `FAILED:<reason>` too. Only a handler that rejects every
    such value keeps them out. This rule reports a check that is written for a path and
    still lets such a client through to content:

    - `= FAILED` never matches (nginx sets `FAILED:<reason>`), `~ FAILED` lets `NONE`
      through, and checks on `$ssl_client_s_dn` / `$ssl_client_i_dn` alone are passed by a
      self-signed certificate carrying the expected names;
    - a map or `set` flag the `if` tests that leaves some value out;
    - `limit_except`: for a method outside its list the block's configuration applies and
      the location's `if` checks do not run.

    Paths with no check at all (a location the handler is not in: a handler in a location
    covers that location only, not nested or sibling locations, and not requests that match
    no location) are the verify mode's finding (MTLS002, which lists them); this rule
    reports only the checks that are there and fail.

    Reported for Cloudflare-fronted servers, for any server whose own checks show that it
    means to keep such clients out, and for any server with `optional_no_ca` when
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
        ssl_verify_client optional;
        if ($ssl_client_verify ~ FAILED) {  # expect: MTLS006
            return 403;
        }
        location / { proxy_pass http://127.0.0.1:8080; }
    }
    ```

    ## Fix
    Put one handler at server level that rejects everything but SUCCESS, where it covers
    every location:
    ```nginx
    if ($ssl_client_verify != SUCCESS) { return 403; }
    ```
    or use `ssl_verify_client on;` and no handler at all.

    ## Verified
    With nginx 1.22.1 (Debian 12, OpenSSL 3.0) on loopback: `~ FAILED` and `= FAILED`
    let a client without a certificate (or, under `optional_no_ca`, a self-signed one)
    through; the server-level `!= SUCCESS` handler closes every location.
    Reproduce: `pytest -m nginx -k MTLS006`.
    """

    id = "MTLS006"
    name = "rejection-handler-missing"
    severity = "error"
    tags = ("security", "cloudflare", "mtls", "external/cwe/cwe-287")
    security_severity = "8.1"
    # A check written for the path that does not hold (paths with no check at all are the
    # verify mode's finding).
    causes = frozenset((Cause.CHECK_PASSED, Cause.LIMIT_EXCEPT))

    def check_server(self, server: Server, ctx: RuleContext) -> Iterator[Finding]:
        if not optional_in_scope(server):
            return
        flow = ctx.flow(server)
        kinds = server.verification.verify_mode.followed_kinds
        if not (flow.handler_exists(kinds) or server.written_check()):
            return  # no check at all, written or working: the verify mode is what lets in
        by_cause: dict[int, tuple[Stmt, Path]] = {}
        for path in self.owned_paths(server, ctx, kinds):
            # The check it got past, else the limit_except that skipped the location's checks.
            at = certificate_check(path, server) or path.outcome.through("limit_except")
            assert at is not None  # the causes owned: a check passed, or limit_except
            by_cause.setdefault(id(at), (at, path))
        for at, path in by_cause.values():
            if at.name == "limit_except":
                message = (f"`limit_except {' '.join(at.args)}` in "
                           f"{server.title}: for {path.client.method} the block's "
                           "configuration applies and the location's `if` checks do not "
                           f"run: {path.client.label} gets {served(path)}")
            else:
                message = (f"`if ({' '.join(at.args)})` in {server.title} "
                           f"lets {path.client.label} through: {path.uri} reaches "
                           f"{served(path)}")
            yield self.finding(at, f"{message}.", FIX, server, trace=finding_trace(path),
                               related=served_evidence(path),
                               fixes=server_handler_fix(ctx.source, server))
