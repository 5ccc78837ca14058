from __future__ import annotations

from typing import Iterator

from ..cafile import CertInfo
from ..findings import Finding, Related
from ..model import Setting, TlsServer
from ..trust import TrustSet
from . import Rule, RuleContext, ca_evidence, evidence, inherited
from .fixes import insert_after, make_fix, replace_statement

DEFAULT_VERIFY_DEPTH = 1


class ClientChainUnverifiable(Rule):
    """nginx cannot verify the chain of the clients the server expects: an issuer is missing,
    `ssl_verify_depth` is too small, a CRL is missing, an intermediate is revoked, or OpenSSL
    refuses a CA of the chain (not a CA for it, a weak key or hash, a path length exceeded).

    ## Why
    nginx verifies a client certificate with OpenSSL against every certificate of
    `ssl_client_certificate` and `ssl_trusted_certificate`. The chain must end in a
    self-signed root of those files (nginx does not accept a chain that stops at an
    intermediate), hold at most `ssl_verify_depth` intermediates (default 1), and with
    `ssl_crl` every CA of the chain needs a current CRL in the file, and none may be revoked.
    When one of these fails, every client certificate issued under the CA concerned gets
    `400 Bad Request` ("The SSL certificate error"), Cloudflare's included, and the refusal is
    logged only at level `info`:

    | cause | nginx error log (level info) |
    |---|---|
    | an intermediate in the files whose issuer is not there, or a file holding only an intermediate (it refuses its clients even when they send the missing issuer: OpenSSL takes the intermediate from the store and looks no further) | `client SSL certificate verify error: (2:unable to get issuer certificate) while reading client request headers` |
    | more intermediates in the files than `ssl_verify_depth` | `client SSL certificate verify error: (2:unable to get issuer certificate) while reading client request headers` |
    | `ssl_crl` without a CRL from a CA of the chain (the root included) | `client SSL certificate verify error: (3:unable to get certificate CRL) while reading client request headers` |
    | a CRL that revokes an intermediate of the chain | `client SSL certificate verify error: (23:certificate revoked) while reading client request headers` |
    | a CA of the chain with no basicConstraints CA:TRUE (a v3 certificate without the extension is a CA only with a keyUsage allowing keyCertSign), or with an extendedKeyUsage that lacks clientAuth (anyExtendedKeyUsage does not count) | `client SSL certificate verify error: (26:unsuitable certificate purpose) while reading client request headers` |
    | a CA whose keyUsage lacks keyCertSign | `client SSL certificate verify error: (32:key usage does not include certificate signing) while reading client request headers` |
    | a CA with a critical extension OpenSSL does not handle (say a critical subjectKeyIdentifier or authorityInfoAccess) | `client SSL certificate verify error: (34:unhandled critical extension) while reading client request headers` |
    | a CA key below the OpenSSL security level (2 on Debian 12: RSA under 2048 bits, EC under 224) | `client SSL certificate verify error: (67:CA certificate key too weak) while reading client request headers` |
    | an intermediate signed with SHA-1 or MD5 (a self-signed root's own signature is not checked) | `client SSL certificate verify error: (68:CA signature digest algorithm too weak) while reading client request headers` |
    | more intermediates below a CA than its pathLenConstraint allows | `client SSL certificate verify error: (25:path length constraint exceeded) while reading client request headers` |
    | two valid CA certificates of one name with different keys, the first without a subjectKeyIdentifier: OpenSSL takes the first valid one of the name (in file order, `ssl_client_certificate` before `ssl_trusted_certificate`) for the clients of the second | `client SSL certificate verify error: (7:certificate signature failure) while reading client request headers` |

    nginx loads such CA files without complaint (`nginx -t` passes): the refusal comes when a
    client connects. The security level is 2 unless `ssl_ciphers` sets another with
    `@SECLEVEL=n` (level 1 accepts an RSA 1024-bit CA; SHA-1 is refused from level 1).

    The clients judged are those of the CAs declared for the host (`expected-cas`, a root or
    an issuing intermediate), else Cloudflare's origin-pull CA on a Cloudflare-fronted server,
    else the CAs of `ssl_client_certificate`. Where the intermediates are not in the files
    (clients send them), their number is unknown and the depth is not judged. A CRL from a CA
    on no expected chain changes nothing for those clients and is not reported; a stale CRL is
    MTLS004, an unreadable `ssl_crl` file MTLS003. Judged under `ssl_verify_client on` and
    `optional` (under `optional_no_ca` nginx passes the failure to the handlers as
    `$ssl_client_verify = FAILED:...` instead of refusing). `stream {}` servers verify with
    the same store and are judged the same way; there nginx closes the connection after the
    handshake instead of answering 400 (logged `... while SSL handshaking`).

    ## Example
    ```nginx
    server {
        listen 443 ssl;
        server_name api.example.com;
        ssl_certificate     /etc/nginx/certs/server.pem;
        ssl_certificate_key /etc/nginx/certs/server.key;
        # root, intermediate 1 and intermediate 2: clients of intermediate 2 need depth 2
        ssl_client_certificate /etc/nginx/certs/chain-full.pem;
        ssl_verify_client on;
        ssl_verify_depth 1;  # expect: MTLS008
    }
    ```

    ## Fix
    `ssl_verify_depth 2;` (the number of intermediates between the client certificate and the
    root); add the missing issuer up to its self-signed root to the CA file; put a current CRL
    of every CA of the chain into the `ssl_crl` file (or drop `ssl_crl`); issue clients from a
    CA that is not revoked.

    ## Verified
    With nginx 1.22.1 (Debian 12, OpenSSL 3.0) on loopback, with a root, two levels of
    intermediates and a client at each level: depth 1 refuses the client of the second
    intermediate and depth 2 admits it (depth 0 admits only clients of the root); a file
    holding only an intermediate, or an intermediate without its issuer, refuses its clients,
    also when they send the missing certificate; a CRL file without the CRL of an intermediate,
    or with the CRL of another CA only, refuses the clients under it and the CRLs of every CA
    admit them; a CRL revoking the first intermediate refuses every client under it. Each
    error-log line above was read from nginx's log in those tests. In a `stream {}` server
    (nginx 1.22.1 and an upstream 1.28.0) the default depth closes the connection of the
    client of the second intermediate and the printed `ssl_verify_depth 2;` admits it, an
    intermediate without its issuer refuses its clients that send the issuer, and a CRL file
    without the intermediate's CRL refuses the clients under it. Each CA refusal of the table
    was observed with a generated CA file that `nginx -t` accepts, with its log line: a v3
    root without basicConstraints, a root with keyUsage digitalSignature only, a root with
    extendedKeyUsage serverAuth, a root with an unknown critical extension, an RSA 1024-bit
    root, an intermediate signed with SHA-1, a root with pathLenConstraint 0 above an
    intermediate, two CAs of one name and two keys without key identifiers (the client of
    the second is refused). Admitted, as the linter says: the RSA 1024-bit root under
    `ssl_ciphers HIGH:!aNULL:!MD5:@SECLEVEL=1`, a root without basicConstraints but with
    keyUsage keyCertSign, a root with extendedKeyUsage clientAuth, a self-signed root signed
    with SHA-1, two CAs of one name with subjectKeyIdentifiers and a client with an
    authorityKeyIdentifier (`pytest -m nginx -k openssl`). Without an authorityKeyIdentifier
    in the client certificate OpenSSL cannot tell such CAs apart either; the linter assumes it
    is there, as `openssl ca` and most CAs write it. The files Cloudflare publishes (RSA 4096
    and SHA-512 for the origin-pull CA) pass these checks. A client certificate whose own
    extendedKeyUsage lacks clientAuth (serverAuth only, or anyExtendedKeyUsage) is refused
    the same way (26), and one whose name is outside its CA's name constraints with
    `(47:permitted subtree violation)`; the linter does not see client certificates
    (`pytest -m nginx -k judged`).
    Reproduce: `pytest -m nginx -k MTLS008` (also `-k depth`, `-k crl`, `-k stream`).
    """

    id = "MTLS008"
    name = "client-chain-unverifiable"
    severity = "error"
    tags = ("reliability", "mtls")
    security_severity = "4.0"

    def check_tls_server(self, server: TlsServer, ctx: RuleContext) -> Iterator[Finding]:
        if not server.verification.verify_mode.refuses_failed:
            return
        trust = ctx.trust(server)
        if not trust.sources or not trust.readable:
            return  # an unusable file is reported as such
        expected = ctx.expected_chains(server)
        yield from self._refused(server, trust, expected, ctx)
        yield from self._missing_issuers(server, trust, expected)
        yield from self._depth(server, trust, expected, ctx)
        yield from self._crls(server, ctx)

    def _refused(self, server: TlsServer, trust: TrustSet, expected: frozenset[str],
                 ctx: RuleContext) -> Iterator[Finding]:
        """CAs of the expected chains OpenSSL does not use as a client's issuer: refused for
        what they are, or hidden behind an earlier CA of the same name."""
        shadowed = trust.shadowed(ctx.now)
        for cert in trust.members(expected):
            name = cert.subject or "(empty subject)"
            first = shadowed.get(cert.sha256)
            if cert.sha256 in trust.refused:
                why, error = trust.refused[cert.sha256]
                said = (f"OpenSSL does not accept {name} as the CA of a client certificate: "
                        f"{why}. nginx loads the file and then refuses every client "
                        f"certificate issued under {name} (\"{error}\").")
                fix = (f"Replace {name} with a CA certificate that has basicConstraints "
                       "CA:TRUE, keyUsage keyCertSign, no extendedKeyUsage (or one with "
                       "clientAuth), a key of 2048 bits (RSA) or 256 (EC) and a SHA-256 "
                       "signature, and respects the pathLenConstraint of the CAs above it; "
                       "reissue the client certificates under it.")
            elif first is not None and cert.sha256 in trust.anchored:
                said = (f"two valid CA certificates named {name} with different keys; OpenSSL "
                        f"takes the first one (in {trust.directive_of[first.sha256]}, valid "
                        f"until {first.not_after:%Y-%m-%d}) as the issuer of their clients, "
                        "and it has no subjectKeyIdentifier to tell them apart, so nginx "
                        "refuses every client certificate issued by the other (\"7:certificate "
                        "signature failure\").")
                fix = (f"Keep one CA named {name} in the files (remove the other), or reissue "
                       "the CAs with distinct names or with subjectKeyIdentifiers.")
            else:
                continue
            setting, shown, related = _holder(server, trust, cert)
            yield self.finding(setting.stmt, f"{shown}: {said}", fix, server, related=related)

    def _missing_issuers(self, server: TlsServer, trust: TrustSet,
                         expected: frozenset[str]) -> Iterator[Finding]:
        for cert in trust.lacking_issuer(expected):
            setting, shown, related = _holder(server, trust, cert)
            if not trust.anchored:
                refused = ("no certificate of the CA files is a self-signed root, and nginx "
                           "accepts no chain that ends in an intermediate: it refuses every "
                           "client certificate (\"unable to get issuer certificate\")")
            else:
                refused = (f"nginx refuses every client certificate issued under {cert.subject}"
                           ", even one that sends the missing issuer (OpenSSL takes "
                           f"{cert.subject} from the CA file and looks no further; \"unable "
                           "to get issuer certificate\")")
            yield self.finding(
                setting.stmt,
                f"{shown}: the issuer of {cert.subject or '(empty subject)'}, "
                f"{cert.issuer or '(empty subject)'}, is not in the CA files; {refused}.",
                f"Add the certificate of {cert.issuer} and the chain above it up to its "
                f"self-signed root to {setting.value} (`cat issuer.pem root.pem >> "
                f"{setting.value}`).", server,
                related=related)

    def _depth(self, server: TlsServer, trust: TrustSet, expected: frozenset[str],
               ctx: RuleContext) -> Iterator[Finding]:
        deepest = trust.deepest(expected)
        setting = server.setting("ssl_verify_depth")
        try:
            depth = int(setting.value) if setting is not None else DEFAULT_VERIFY_DEPTH
        except ValueError:
            return  # nginx -t rejects it
        if deepest is None or trust.level[deepest.subject] <= depth:
            return
        needed = trust.level[deepest.subject]
        chain = trust.chain_names(deepest)
        at = (f"`ssl_verify_depth {setting.value}`{inherited(setting)}" if setting is not None
              else f"{server.title} leaves ssl_verify_depth at its default of 1")
        fix = f"ssl_verify_depth {needed};"
        edit = (replace_statement(ctx.source, setting.stmt, fix)
                if setting is not None and not setting.inherited
                else insert_after(ctx.source, server.stmt, fix))
        yield self.finding(
            setting.stmt if setting is not None else server.stmt,
            f"{at}: the CA files hold {needed} intermediates between the clients issued by "
            f"{deepest.subject} and the root {chain[-1]} ({' -> '.join(chain)}), more than the "
            f"depth allows, so nginx refuses those clients (\"unable to get issuer "
            "certificate\").",
            fix, server, related=ca_evidence(server),
            fixes=make_fix(f"allow {needed} intermediates", edit))

    def _crls(self, server: TlsServer, ctx: RuleContext) -> Iterator[Finding]:
        for verdict in ctx.crl_verdicts(server):
            setting, _ = ctx.crl(server) or (None, None)
            assert setting is not None  # verdicts come from an ssl_crl
            shown = f"`ssl_crl {setting.value}`{inherited(setting)}"
            name = verdict.ca.subject or "(empty subject)"
            if verdict.revoked:
                yield self.finding(
                    setting.stmt,
                    f"{shown}: the CRL from {verdict.ca.issuer} revokes {name}, so nginx "
                    f"refuses every client certificate issued under {name} (\"certificate "
                    "revoked\").",
                    f"Issue the clients from a CA that is not revoked and remove {name} from "
                    "the CA files; if the revocation is a mistake, publish a CRL without it.",
                    server, related=ca_evidence(server))
            if not (verdict.current or verdict.expired or verdict.not_yet_valid):
                yield self.finding(
                    setting.stmt,
                    f"{shown}: no CRL from {name} is in effect; with ssl_crl nginx checks "
                    "a CRL for every certificate of the chain, so it refuses every client "
                    f"certificate whose chain goes through {name} (\"unable to get "
                    "certificate CRL\").",
                    f"Add the current CRL of {name} to {setting.value} (`cat ca-crl.pem >> "
                    f"{setting.value}`), or remove ssl_crl if you do not revoke client "
                    "certificates.", server, related=ca_evidence(server))


def _holder(server: TlsServer, trust: TrustSet,
            cert: CertInfo) -> tuple[Setting, str, list[Related]]:
    """The directive whose file holds `cert`: its setting, how messages show it, and the
    other CA directives as related locations."""
    directive = trust.directive_of[cert.sha256]
    setting = server.setting(directive)
    assert setting is not None  # the trust set was read from it
    return (setting, f"`{directive} {setting.value}`{inherited(setting)}",
            [evidence(s, f"{d} {s.value}") for d, s in server.client_ca_settings()
             if s is not setting])
