from __future__ import annotations

from typing import Iterator

from ..findings import Finding, Fix, Related
from ..model import Server, Setting, StreamServer, TlsServer, name_keys
from . import (Rule, RuleContext, cloudflare_evidence, evidence, inherits, relay_evidence,
               inherited)
from .fixes import (AOP_CA_PATH, AOP_CA_SOURCE, ENFORCE_AOP, aop_ca_path, insert_after, make_fix,
                    replace_statement)


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
    annotation or a command-line host pattern, an `allow` list of Cloudflare's ranges, a
    `log_format` with `$http_cf_*` used by the server's `access_log`, a `map` on
    `$http_cf_*` whose result the server reads). Servers that listen only on loopback or
    unix sockets cannot be reached around Cloudflare and are not reported, unless a
    `stream {}` server on another address relays connections to them without terminating
    TLS (`ssl_preread` routing through a `map`, a TCP relay to the address or to an
    `upstream {}` holding it): then only their own verification stands; nor are servers
    that serve nothing (every request redirected, refused, closed or answered with fixed
    text, or `ssl_reject_handshake on` where every server on its address:port refuses
    handshakes too: nginx routes a request by `Host:` after a handshake with any other
    server of the socket, so `ssl_reject_handshake on` alone hides nothing), nor the
    distribution's default site (a catch-all `server_name _;` or `localhost` whose static
    files come from /var/www/html or /usr/share/nginx/html: the welcome page). A server with
    only plain listeners on every address (`listen 8080;` for a tunnel) is reported at that
    `listen`, also when it inherits `ssl_verify_client` from http {} (which applies to TLS
    connections only). A `stream {}` server
    (Cloudflare Spectrum, say) is judged only when you declare it Cloudflare-fronted (the
    annotation or `--cloudflare-host` / `--assume-cloudflare`): in stream a client CA without
    `ssl_verify_client` checks nothing either.

    Checks that stand in for a certificate do not hold: an `if` on `$http_cf_ray` or
    `$http_cf_connecting_ip` (any client sends those headers), or an allow-list of
    Cloudflare's ranges (any Cloudflare customer comes through Cloudflare).

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
    without a Cloudflare certificate is rejected. In `stream {}`, a client CA without
    `ssl_verify_client` lets every client through, with or without a certificate. A
    loopback-only server behind an `ssl_preread` relay on another address (routed by
    `map $ssl_preread_server_name`) serves a direct client without a certificate, and
    `ssl_verify_client on` in it closes that path.
    A non-default server with `ssl_reject_handshake on` refuses SNI naming it, and still
    serves a client that completed the handshake with the default server (no SNI) and
    sends its `Host:` (network namespace, flow case reject_handshake_server_reached_by_host).
    Reproduce: `pytest -m nginx -k MTLS001`.
    """

    id = "MTLS001"
    name = "cf-vhost-without-mtls"
    severity = "error"
    tags = ("security", "cloudflare", "external/cwe/cwe-306")
    security_severity = "8.6"

    def check_server(self, server: Server, ctx: RuleContext) -> Iterator[Finding]:
        verification = server.verification
        setting = verification.setting
        # Verification inherited from http {} never applies to a server without TLS (one
        # written in the server itself is a plaintext bypass: that server meant to be protected).
        unapplied = not server.tls_on and setting is not None and setting.inherited
        if not server.cloudflare.fronted or (verification.mode != "off" and not unapplied) or (
                server.rejects_handshakes_without_sni
                and not any(server.config.exposed(s) for s in server.reachable_tls)):
            return
        if ca_without_verify(server):
            return  # verify-client-not-on reports a CA loaded and nothing verified
        flow = ctx.flow(server)
        if server.exposed_tls:
            # Without verification every client is one without a certificate: reported when
            # such a client reaches content, or may (not only redirects, refusals, 444, fixed
            # text, or a check that refuses everyone: a broken origin).
            if (flow.open_paths(("none",)) or flow.unsure_paths(("none",))) \
                    and not answers_no_name(server):
                yield self._unverified_tls(server, verification.setting, ctx)
            return
        # A plain twin of a protected server is a plaintext bypass; this one has no TLS at all.
        if server.exposed_plain_listens and server.config.protected_twin(server) is None \
                and flow.open_paths(("plain",), tls=False):
            listen = server.exposed_plain_listens[0]
            yield self.finding(
                listen.stmt,
                f"{server.title} is fronted by Cloudflare ({self._signal(server)}) but "
                f"`listen {' '.join(listen.stmt.args)}` serves "
                f"plain HTTP on {listen.socket}, every address of the host"
                + (f" (`ssl_verify_client {verification.mode}`{inherited(setting)} applies "
                   "to TLS connections only)" if unapplied and setting else "")
                + ": anyone who finds the origin's address reaches it directly, skipping "
                "Cloudflare.",
                "Listen on loopback only for a tunnel (listen 127.0.0.1:PORT;), or serve "
                f"TLS with Authenticated Origin Pulls:\n{ENFORCE_AOP}\n{AOP_CA_SOURCE}",
                server, related=[*cloudflare_evidence(server),
                                 *self._tls_only(setting if unapplied else None)])

    def check_stream_server(self, server: StreamServer, ctx: RuleContext) -> Iterator[Finding]:
        """Only when the user declares it Cloudflare-fronted: stream {} carries no
        Cloudflare headers to detect."""
        verification = server.verification
        if server.cloudflare.declared and server.exposed_tls and verification.mode == "off" \
                and not ca_without_verify(server):
            yield self._unverified_tls(server, verification.setting, ctx)

    def _unverified_tls(self, server: TlsServer, setting: Setting | None,
                        ctx: RuleContext) -> Finding:
        proxy = server.setting("proxy_ssl_certificate") or server.setting("proxy_ssl_verify")
        related = [*cloudflare_evidence(server), *inherits(server, setting),
                   *relay_evidence(server)]
        if proxy is not None:
            related.append(evidence(proxy, f"`{proxy.stmt.name}` (nginx to its upstream)"))
        if setting is not None:
            at, said = setting.stmt, f"`ssl_verify_client off`{inherited(setting)}"
        elif proxy is not None:
            at, said = proxy.stmt, (
                f"`{proxy.stmt.name}`{inherited(proxy)} authenticates nginx to its "
                "upstream, not clients to nginx, and no `ssl_verify_client` is set")
        else:
            at, said = server.stmt, "no `ssl_verify_client` is set"
        return self.finding(
            at,
            f"{server.title} is fronted by Cloudflare ({self._signal(server)}) but {said}: "
            f"anyone who finds the origin's address reaches it directly, skipping "
            f"Cloudflare{self._false_guard(server)}.",
            f"Add to the server block:\n{ENFORCE_AOP}\n{AOP_CA_SOURCE}", server,
            related=related, fixes=self._fix(ctx, server, setting))

    @staticmethod
    def _fix(ctx: RuleContext, server: TlsServer, setting: Setting | None) -> list[Fix]:
        """`ssl_verify_client on` where `off` is written in the server, else added to the
        server block; with the origin-pull CA when the server trusts no CA yet."""
        needs_ca = not server.client_ca_settings()
        title = "verify Cloudflare's client certificate (refuses visitors while Cloudflare " \
                "does not send it: enable Authenticated Origin Pulls first)"
        if setting is not None and not setting.inherited:
            edits = [replace_statement(ctx.source, setting.stmt, "ssl_verify_client on;")]
            if needs_ca:
                edits.append(insert_after(ctx.source, setting.stmt,
                                          f"ssl_client_certificate {aop_ca_path(ctx, server)};"))
            return make_fix(title, *edits, unsafe=True)
        text = ENFORCE_AOP.replace(AOP_CA_PATH, aop_ca_path(ctx, server)) if needs_ca else \
            "ssl_verify_client on;"
        return make_fix(title, insert_after(ctx.source, server.stmt, text), unsafe=True)

    @staticmethod
    def _tls_only(setting: Setting | None) -> list[Related]:
        """Verification that applies to TLS connections only, as a related location."""
        return [] if setting is None else [
            evidence(setting, f"`ssl_verify_client {setting.value}` (TLS connections only)")]

    @staticmethod
    def _signal(server: TlsServer) -> str:
        signal = server.cloudflare.signals[0]  # where it is: cloudflare_evidence()
        return signal.detail + (" (inherited from http {})" if signal.inherited else "")

    @staticmethod
    def _false_guard(server: TlsServer) -> str:
        """What the server does instead of verifying, and why that does not hold."""
        kinds = {signal.kind for signal in server.cloudflare.signals}
        if "cf-header-check" in kinds:
            return (" (an `if` on a Cloudflare header keeps nobody out: any client sends "
                    "`CF-Connecting-IP` or `CF-Ray` itself)")
        if "allow-cloudflare" in kinds:
            return (" (the allow-list of Cloudflare's ranges keeps direct clients out, but "
                    "any Cloudflare customer can point a zone at this address and come "
                    "through Cloudflare)")
        return ""


def answers_no_name(server: Server) -> bool:
    """Whether no request reaches the server: on each of its TLS sockets it is not the
    default and an earlier server takes each of its names (nginx -t: "conflicting server
    name ... ignored"; MTLS106 reports the shadowing)."""
    sockets = server.config.sockets
    for name in server.reachable_tls:
        socket = sockets.get(name)
        if socket is None or socket.default is server or any(
                socket.answering(key) is server for each in server.names
                for key in name_keys(each)):
            return False
    return bool(server.reachable_tls)


def ca_without_verify(server: TlsServer) -> bool:
    """A client CA file loaded with no `ssl_verify_client` in effect (verify-client-not-on
    reports it)."""
    return server.verification.setting is None and any(
        d == "ssl_client_certificate" for d, _ in server.client_ca_settings())
