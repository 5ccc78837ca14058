from __future__ import annotations

from typing import Iterator

from ..findings import Edit, Finding, Fix, Related
from ..flow import CLOSED_BY_VERIFY_ON, Cause, stream_refusal
from ..model import Server, StreamServer, TlsServer
from . import (Rule, RuleContext, ca_evidence, cloudflare_evidence, evidence,
               finding_trace, flow_open, inherited, inherits, open_locations,
               optional_in_scope, quoted, served, served_evidence)
from .fixes import SERVER_HANDLER, aop_ca_path, insert_after, make_fix, replace_word


class VerifyClientNotOn(Rule):
    """`ssl_verify_client optional` or `optional_no_ca` lets clients without a valid certificate in.

    ## Why
    With `optional`, nginx completes the request when the client sends no certificate
    (`$ssl_client_verify` is `NONE`). With `optional_no_ca` it also accepts a self-signed
    certificate or one from any other CA (`FAILED:...`). Unless a handler rejects those
    values before any content is served, the origin is open to direct connections.

    The linter follows such clients through the server's request phases (see `trace`).
    Reported as an error while some path gives them content, and as a warning when every
    path refuses them (the setup holds, but `on` says the same thing without depending on
    the checks) or when that depends on what the configuration does not tell (a file test,
    the application receiving `$ssl_client_verify`, an OpenResty `access_by_lua*` or
    `rewrite_by_lua*` handler whose code reads the certificate or lives in a file: the linter
    does not run Lua; one whose code does not read it checks nothing). `optional_no_ca` with
    no CA at all authenticates nobody and is always an error. On servers that are not
    Cloudflare-fronted the rule judges those whose own checks (an `if` on `$ssl_client_*`, an
    `auth_request`, such a Lua handler) show that they mean to keep such clients out, and
    `optional` or `optional_no_ca` when nothing in the server reads `$ssl_client_*` at all
    (neither a check nor a header handing it to the application): a valid certificate and
    none then get the same, so the verification protects nothing.

    One cause, one finding: every place where such a client gets content with no
    certificate check on the way (a location without the handler, a nested location, a
    URI that matches no location) is listed as a related location of this one finding,
    whose fix closes them all. A check that is written for a path and still lets such a
    client through (`= FAILED`, a map that leaves `NONE` out, `limit_except`) is MTLS006's
    finding, not this rule's.

    In `stream {}` there is no later phase to reject a client: `optional` proxies a client
    without a certificate, so it is an error for every stream server, unless
    `$ssl_client_verify` chooses the `proxy_pass` target through a `map` or a chain of maps
    (a warning naming the map; an error when the chain, followed to its end, sends such
    clients where SUCCESS goes). Its access phase runs before the TLS handshake: `allow` /
    `deny` (the server's, else those of stream {}) that close a direct client's connection
    make it a warning, unless the client writes its address itself (`listen ...
    proxy_protocol` with `set_real_ip_from` trusting any address) or the list allows
    Cloudflare's ranges (any Cloudflare customer comes through them). A server that answers
    fixed text (`return` without variables) proxies nothing and is not reported.

    ## Example
    ```nginx
    server {
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
    refused; `on` rejects it and a valid client still gets in. In `stream {}` (Debian's
    libnginx-mod-stream): `optional` proxies a client without a certificate, `on` closes the
    connection with no response, and a `map` on `$ssl_client_verify` choosing the
    `proxy_pass` target holds while it sends NONE elsewhere than SUCCESS, through a chain
    of two maps too (one keyed on `~^FAILED` lets NONE through), with regex keys,
    `hostnames` and `upstream {}` names as targets. `deny all` in the server, or
    `allow 10.0.0.0/8; deny all;` in stream {}, closes a connection from outside the list
    before the handshake; behind `proxy_protocol` and `set_real_ip_from 0.0.0.0/0` a client
    writing an allowed address in its PROXY header is proxied without a certificate. With
    libnginx-mod-http-lua: an `access_by_lua_block` that exits 403 unless
    `ngx.var.ssl_client_verify` is SUCCESS keeps such clients out, one that reads something
    else does not.
    Reproduce: `pytest -m nginx -k MTLS002`.
    """

    id = "MTLS002"
    name = "verify-client-not-on"
    severity = "error"
    tags = ("security", "cloudflare", "mtls", "external/cwe/cwe-295")
    security_severity = "8.1"
    # Paths with no certificate check on the way: the verify mode is what lets clients in.
    causes = frozenset((Cause.UNCHECKED,))

    def check_server(self, server: Server, ctx: RuleContext) -> Iterator[Finding]:
        yield from self._ca_without_verify(server, ctx)
        if not optional_in_scope(server):
            return
        mode, setting = server.verification.mode, server.verification.setting
        assert setting is not None  # optional_in_scope: `optional` is written somewhere
        fix = (f"ssl_verify_client on;  # or keep {mode} and add at server level: "
               f"{SERVER_HANDLER}")
        to_on = replace_word(ctx.source, setting.stmt, 1, "on")
        fixes = make_fix("`ssl_verify_client on` (refuses visitors while Cloudflare does "
                         "not send its certificate)", to_on, unsafe=True)
        related = [*cloudflare_evidence(server), *ca_evidence(server),
                   *inherits(server, setting)]
        if not server.cloudflare.fronted and not server.reads_client_verification():
            if mode == "optional" and not flow_open(ctx, server, mode):
                return  # nothing is served to such clients anyway
            accepted = "any certificate, or none," if mode == "optional_no_ca" else \
                "a client without a certificate, as one with a valid certificate,"
            yield self.finding(
                setting.stmt,
                f"`ssl_verify_client {mode}`{inherited(setting)} and nothing in "
                f"{server.title} reads $ssl_client_verify: {accepted} is "
                "accepted, so the server authenticates nobody.", fix, server,
                fixes=fixes, related=related)
            return
        if not server.cloudflare.fronted and not flow_open(ctx, server, mode):
            return  # its own checks hold; `on` is a matter of taste off Cloudflare
        if mode == "optional_no_ca" and not server.client_ca_settings():
            pinned = not flow_open(ctx, server, mode)
            yield self.finding(
                setting.stmt,
                f"`ssl_verify_client optional_no_ca`{inherited(setting)} with no CA file: "
                + (f"only the checks of {server.title} tell Cloudflare's certificate from "
                   "others; they hold, but a pinned certificate is refused once Cloudflare "
                   "renews it, and the origin-pull CA outlives it." if pinned else
                   f"{server.title} cannot tell Cloudflare from anyone else."),
                "ssl_client_certificate /etc/nginx/certs/origin-pull-ca.pem;\n"
                "ssl_verify_client on;", server, related=related,
                severity="warning" if pinned else None,
                fixes=make_fix("verify against the origin-pull CA", to_on, insert_after(
                    ctx.source, setting.stmt, f"ssl_client_certificate {aop_ca_path(ctx, server)};")))
            return
        yield from self._by_paths(server, ctx, fix, fixes, related, to_on)

    def _by_paths(self, server: Server, ctx: RuleContext, fix: str, fixes: list[Fix],
                  related: list[Related], to_on: Edit | None) -> Iterator[Finding]:
        """What the paths of clients the mode lets past the handshake say: one error listing
        every place they get content with no check on the way; nothing when each open path
        got past a check written for it (that check's finding); else a warning."""
        mode, setting = server.verification.mode, server.verification.setting
        assert setting is not None
        kinds = server.verification.verify_mode.followed_kinds
        flow = ctx.flow(server)
        let_through = " or ".join("NONE" if k == "none" else "FAILED" for k in kinds)
        open_paths = flow.open_paths(kinds, causes=CLOSED_BY_VERIFY_ON)
        unchecked = [p for p in open_paths if not p.cause(server).past_a_check]
        if unchecked:
            path = unchecked[0]
            opened = open_locations(server, unchecked)
            more = (f"; {len(opened)} places let such clients in with no certificate check "
                    "on the way" if len(opened) > 1 else "")
            yield self.finding(
                setting.stmt,
                f"`ssl_verify_client {mode}`{inherited(setting)} on "
                f"{'Cloudflare-fronted ' if server.cloudflare.fronted else ''}"
                f"{server.title}: {path.client.label} requesting {path.uri} gets "
                f"{served(path)}{more}.", fix, server, fixes=fixes,
                related=[*opened, *related, *served_evidence(path)],
                trace=finding_trace(path))
        elif open_paths:
            return  # every open path got past a check written for it: the check's finding
        elif flow.unsure_paths(kinds):
            path = flow.unsure_paths(kinds)[0]
            yield self.finding(
                setting.stmt,
                f"`ssl_verify_client {mode}`{inherited(setting)}: whether {let_through} "
                f"clients are refused on {path.uri} depends on what the configuration "
                f"does not tell ({path.outcome.reason or 'an unknown value'}); `on` "
                "refuses them in the handshake.", fix, server, severity="warning",
                fixes=fixes, related=related, trace=finding_trace(path))
        else:
            yield self.finding(
                setting.stmt,
                f"`ssl_verify_client {mode}`{inherited(setting)}: every path refuses "
                f"{let_through} clients, so the checks are not needed: `on` says the "
                "same without depending on them.",
                "ssl_verify_client on;", server, severity="warning", related=related,
                fixes=make_fix("`ssl_verify_client on` (the checks already refuse the "
                               "same clients)", to_on))

    def _ca_without_verify(self, server: TlsServer, ctx: RuleContext) -> Iterator[Finding]:
        """A client CA file loaded and no `ssl_verify_client` in effect: nginx asks for no
        certificate, so `$ssl_client_verify` is NONE for everyone and nobody is verified. An
        error on a Cloudflare-fronted server that a client without a certificate reaches
        (MTLS001 leaves it to this rule), a warning otherwise (facts §7, stream {})."""
        if server.verification.setting is not None or not server.exposed_tls:
            return
        loaded = next((s for d, s in server.client_ca_settings()
                       if d == "ssl_client_certificate"), None)
        if loaded is None:
            return
        reached = not isinstance(server, Server) or bool(
            ctx.flow(server).open_paths(("none",)) or ctx.flow(server).unsure_paths(("none",)))
        error = server.cloudflare.fronted and reached
        yield self.finding(
            loaded.stmt,
            f"`ssl_client_certificate {loaded.value}`{inherited(loaded)} in {server.title} "
            "with no `ssl_verify_client`: nginx asks no client for a certificate and "
            "verifies nobody ($ssl_client_verify is NONE for every client)"
            + (": anyone who finds the origin's address reaches it directly." if error
               else "."),
            "ssl_verify_client on;", server, severity=None if error else "warning",
            related=[*cloudflare_evidence(server), *ca_evidence(server)],
            fixes=make_fix("`ssl_verify_client on`",
                           insert_after(ctx.source, loaded.stmt, "ssl_verify_client on;"),
                           unsafe=True))

    def check_stream_server(self, server: StreamServer, ctx: RuleContext) -> Iterator[Finding]:
        """No later phase can reject a client without a certificate, so `optional` is an
        error, unless `$ssl_client_verify` picks the proxy_pass target."""
        yield from self._ca_without_verify(server, ctx)
        verification = server.verification
        setting = verification.setting
        if setting is None or not verification.verify_mode.lets_unverified_in \
                or not server.exposed_tls:
            return
        mode, lets = verification.mode, verification.lets_through
        shown = " or ".join(dict.fromkeys(v.split(":")[0] for v in lets))
        proxy = server.proxy_pass
        answer = server.setting("return")
        if proxy is None and server.setting("pass") is None and answer is not None \
                and "$" not in answer.value:
            return  # fixed text for everyone: nothing behind it
        target = f"`proxy_pass {proxy.value}`" if proxy else "the stream's handler"
        related = [*cloudflare_evidence(server), *ca_evidence(server),
                   *inherits(server, setting)]
        if proxy is not None:
            related.append(evidence(proxy, "where the connection goes"))
        to_on = replace_word(ctx.source, setting.stmt, 1, "on")
        edits = [to_on]
        if not server.client_ca_settings():
            edits.append(insert_after(ctx.source, setting.stmt,
                                      f"ssl_client_certificate {aop_ca_path(ctx, server)};"))
        fixes = make_fix("`ssl_verify_client on` (connections without a valid certificate "
                         "are closed)", *edits, unsafe=True)
        refusal = stream_refusal(server)
        if refusal is not None:
            yield self.finding(
                setting.stmt,
                f"`ssl_verify_client {mode}`{inherited(setting)} in {server.title}: "
                f"{quoted(refusal)} closes a "
                "direct client's connection before the handshake (stream's access phase "
                f"runs first), so only the addresses allowed get past without a valid "
                f"certificate ({shown}); `on` refuses those too.",
                "ssl_verify_client on;", server, severity="warning",
                related=[*related, evidence(refusal, f"{quoted(refusal)} closes the "
                                                  "connection before the handshake")],
                fixes=fixes)
            return
        chosen = server.verify_map()
        how = "stream {} has no later phase that could reject it"
        if chosen is not None and chosen[1].stmt is not None:
            name = chosen[0]
            map_stmt = chosen[1].stmt
            related.append(evidence(map_stmt, f"`map` that sets {name}"))
            valid = server.target_for("SUCCESS")
            same = list(dict.fromkeys(v.split(":")[0] for v in lets
                                      if valid is not None and server.target_for(v) == valid))
            if not same:
                yield self.finding(
                    setting.stmt,
                    f"`ssl_verify_client {mode}`{inherited(setting)} in "
                    f"{server.title}: {target} is chosen by the `map` of {name} "
                    "from $ssl_client_verify; it holds only while every "
                    f"value but SUCCESS ({shown}) leads to a target that refuses the "
                    "connection. `on` needs no map.",
                    "ssl_verify_client on;", server, severity="warning",
                    related=related, fixes=fixes)
                return
            how = (f"the `map` of {name} sends {' and '.join(same)} where "
                   "SUCCESS goes")
        yield self.finding(
            setting.stmt,
            f"`ssl_verify_client {mode}`{inherited(setting)} in {server.title}: "
            f"a client without a valid certificate ({shown}) is "
            f"proxied by {target}; {how}.", "ssl_verify_client on;", server,
            related=related, fixes=fixes)
