from __future__ import annotations

from typing import Iterator

from ..cloudflare import AOP_CAS, ORIGIN_CA_ROOTS
from ..findings import Finding, Fix
from ..flow import NO
from ..model import Server, Setting, TlsServer, walk
from . import Rule, RuleContext, ca_evidence, cloudflare_evidence, inherited, inherits
from .fixes import AOP_CA_PATH, AOP_CA_SOURCE, delete_statement, make_fix, replace_word


class ClientCaMismatch(Rule):
    """A Cloudflare-fronted server trusts client CAs other than Cloudflare's origin-pull CA.

    ## Why
    Every CA that nginx trusts for client certificates is a way in. The Cloudflare *Origin
    CA* roots sign origin **server** certificates: used as a client CA they reject
    Cloudflare's real origin-pull certificate and accept any Cloudflare customer's Origin CA
    certificate sent straight to your origin. Extra CAs in the bundle, or CAs added with
    `ssl_trusted_certificate` (they verify client certificates too, they are only not
    advertised), let the holders of their certificates skip Cloudflare.

    For zone-level or per-hostname Authenticated Origin Pulls, declare the CA you uploaded to
    Cloudflare (`--expect-ca 'shop.example.com=SHA256'`); that CA is then the one expected.
    The fingerprint may be a root's or an issuing intermediate's: the expected CA's own chain
    (the roots above it, the intermediates it issued) is not "another CA". Only certificates
    that can anchor a chain count: a lone intermediate whose root is not in the files admits
    nobody (nginx does not set X509_V_FLAG_PARTIAL_CHAIN; MTLS008 reports it when it is on the
    expected chain), and neither does a CA that OpenSSL refuses as a client's issuer (no
    basicConstraints CA:TRUE, an extendedKeyUsage without clientAuth, a key too weak for the
    security level: the causes MTLS008 lists). A self-signed end-entity certificate in the
    files (a client certificate "pinned" there) is a way in too: OpenSSL admits a client that
    presents exactly that certificate, when its extensions allow client authentication and its
    key is strong enough.
    `stream {}` servers are checked the same way.

    ## Example
    ```nginx
    server {
        listen 443 ssl;
        server_name blog.example.com;
        ssl_certificate     /etc/nginx/certs/blog.pem;
        ssl_certificate_key /etc/nginx/certs/blog.key;
        ssl_client_certificate /etc/nginx/certs/origin_ca_rsa_root.pem;  # expect: MTLS005
        ssl_verify_client on;
    }
    ```

    ## Fix
    ```nginx
    ssl_client_certificate /etc/nginx/certs/origin-pull-ca.pem;  # only the origin-pull CA
    ssl_verify_client on;
    ```
    and no `ssl_trusted_certificate` in the server (put OCSP stapling chains in a server that
    does not verify clients, or use `ssl_stapling_file`).

    ## Verified
    With nginx 1.22.1 (Debian 12, OpenSSL 3.0) on loopback: an extra CA in the bundle, or in
    `ssl_trusted_certificate`, lets its certificate holders in; the origin-pull CA alone
    rejects them. A CA with extendedKeyUsage serverAuth only refuses its clients
    ("unsuitable certificate purpose", `pytest -m nginx -k openssl_refuses`), so next to the
    origin-pull CA it is not reported. A self-signed certificate with basicConstraints
    CA:FALSE next to a CA admits the client presenting it, and one whose extendedKeyUsage is
    serverAuth only does not (`pytest -m nginx -k self_signed_client`).
    The Origin CA root case is not exercised (no Cloudflare-issued certificate is available
    to tests); it is the same mechanism as an extra CA.
    Reproduce: `pytest -m nginx -k MTLS005`.
    """

    id = "MTLS005"
    name = "client-ca-mismatch"
    severity = "error"
    tags = ("security", "cloudflare", "external/cwe/cwe-295")
    security_severity = "8.1"

    def check_tls_server(self, server: TlsServer, ctx: RuleContext) -> Iterator[Finding]:
        if not (server.cloudflare.fronted and server.exposed_tls):
            return
        if server.verification.mode == "off":
            return
        declared = ctx.expected_for(server)
        expected = declared or frozenset(AOP_CAS)
        trust = ctx.trust(server)
        if not trust.sources or not trust.readable:
            return  # an unusable file is reported as such
        sources = [(directive, setting, ctx.ca_file(server, setting))
                   for directive, setting in server.client_ca_settings()]
        # The expected CAs' own chains (roots above, intermediates below) are no other CA.
        own = trust.hierarchy(expected)
        wanted = "the CA you declared for this host" if declared else \
            "the Cloudflare origin-pull CA"
        reported = False
        related = [*cloudflare_evidence(server), *ca_evidence(server)]
        for directive, setting, ca in sources:
            shown = f"`{directive} {setting.value}`{inherited(setting)}"
            for cert in ca.certs:
                pinned = cert.sha256 in trust.pinned and \
                    cert.not_before <= ctx.now <= cert.not_after
                if not (pinned or cert.sha256 in trust.anchored) or cert.sha256 in own \
                        or cert.sha256 in expected:
                    continue
                why = self._why(cert, directive, pinned, server, ctx)
                reported = True
                yield self.finding(
                    setting.stmt, f"{shown} {why}.",
                    f"Trust only {wanted}: ssl_client_certificate "
                    "/etc/nginx/certs/origin-pull-ca.pem; and no other CA in that file or "
                    f"in ssl_trusted_certificate. {AOP_CA_SOURCE}", server,
                    severity="warning" if why.endswith(LATENT) else None,
                    related=[*related, *inherits(server, setting)],
                    fixes=self._fix(ctx, server, setting, declared,
                                    trust.anchored & expected))
        if not reported and not trust.anchored & expected:
            setting = sources[0][1]
            yield self.finding(
                setting.stmt,
                f"`{sources[0][0]} {setting.value}`{inherited(setting)} does not hold "
                f"{wanted}: requests that come through Cloudflare are rejected.",
                f"ssl_client_certificate /etc/nginx/certs/origin-pull-ca.pem;  "
                f"{AOP_CA_SOURCE}", server, related=[*related, *inherits(server, setting)],
                fixes=self._fix(ctx, server, setting, declared, frozenset()))

    @staticmethod
    def _why(cert, directive: str, pinned: bool, server: TlsServer, ctx: RuleContext) -> str:
        """What trusting `cert` lets in."""
        if pinned:
            return (f"also trusts {cert.subject or 'a certificate with an empty subject'}"
                    ", a self-signed end-entity certificate: OpenSSL admits a client "
                    "that presents exactly that certificate, so its holder reaches the "
                    "origin directly")
        if cert.sha256 in ORIGIN_CA_ROOTS:
            return (f"holds {ORIGIN_CA_ROOTS[cert.sha256]}, which signs origin "
                    "server certificates: Cloudflare's origin-pull certificate does "
                    "not verify against it, and any Cloudflare customer's Origin CA "
                    "certificate sent straight to the origin does")
        adds = " (trusted certificates verify clients too)" \
            if directive == "ssl_trusted_certificate" else ""
        trusted = f"also trusts {cert.subject or 'a CA with an empty subject'}{adds}"
        if refused_elsewhere(server, ctx):
            return f"{trusted}; today the server's own checks refuse {OPENS_LATER}"
        if isinstance(server, Server) and not serves_anyone(ctx.flow(server)):
            return f"{trusted}; today the server gives nobody content, {SERVES_LATER}"
        return f"{trusted}: anyone holding a certificate from that CA reaches the origin directly"

    @staticmethod
    def _fix(ctx: RuleContext, server: TlsServer, setting: Setting, declared: frozenset[str],
             expected_kept: set[str] | frozenset[str]) -> list[Fix]:
        """Drop an `ssl_trusted_certificate` (safe when the client CA file keeps the expected
        CA and the directive is the server's own); point `ssl_client_certificate` at the
        origin-pull CA (not when the user declared another CA for the host)."""
        if setting.stmt.name == "ssl_trusted_certificate":
            client = server.setting("ssl_client_certificate")
            kept = client is not None and any(
                c.sha256 in expected_kept for c in ctx.ca_file(server, client).certs)
            return make_fix("stop trusting the CAs of this file for client certificates",
                            delete_statement(ctx.source, setting.stmt),
                            unsafe=setting.inherited or not kept)
        if declared or setting.value == AOP_CA_PATH:
            return []
        return make_fix("trust only the Cloudflare origin-pull CA",
                        replace_word(ctx.source, setting.stmt, 1, AOP_CA_PATH))


OPENS_LATER = "that CA's clients everywhere, so one edit of them opens the origin"
SERVES_LATER = "so that CA's clients get its content as soon as it serves any"
LATENT = (OPENS_LATER, SERVES_LATER)


def serves_anyone(flow) -> bool:
    """Whether the valid client gets content on some path, sure or unsure."""
    return any(p.result.verdict != NO for p in flow.paths("valid"))


def refused_elsewhere(server: TlsServer, ctx: RuleContext) -> bool:
    """Whether an http {} server's own request phases (a pin on the issuer or the subject,
    allow/deny, a check that refuses everyone) keep every client of another CA from its
    content: the simulator finds no path, sure or unsure, for such a client."""
    if not isinstance(server, Server):
        return False  # stream {}: no request phases after the handshake
    if any("ssl_server_name" in arg for stmt in walk(server.stmt.block) for arg in stmt.args):
        return False  # the flow's other-CA client is B6's, without SNI: not this question
    flow = ctx.flow(server)
    if not serves_anyone(flow):
        return False  # the server serves nobody: no check refuses that CA's clients
    return not flow.open_paths(("other-ca",)) and not flow.unsure_paths(("other-ca",))
