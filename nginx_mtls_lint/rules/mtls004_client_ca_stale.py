from __future__ import annotations

import datetime as dt
from typing import Iterator

from ..cafile import CertInfo
from ..cloudflare import AOP_CA_2015, AOP_CAS
from ..findings import Finding, Fix
from ..model import Setting, TlsServer
from . import Rule, RuleContext, inherited, inherits
from .fixes import AOP_CA_PATH, AOP_CA_SOURCE, make_fix, replace_word


class ClientCaStale(Rule):
    """A client CA certificate, or the CRL of a CA of the client chain, has expired, is not
    yet valid, or expires soon.

    ## Why
    OpenSSL checks the validity dates of the trust anchor too: an expired CA in
    `ssl_client_certificate` makes nginx reject every client, even one whose own certificate
    is in date. The 2015 issue of Cloudflare's origin-pull CA (expired 2020-01-12) is still
    copied from old guides; with it, Cloudflare's own requests are rejected with 400.

    A file that holds both an expired and a current issue of the same CA works (OpenSSL picks
    the valid one); the expired copy is then reported as a note. A current issue that is a
    cross-signed copy (same name and key, signed by another CA) stands in only when that other
    CA is in the files too: without it OpenSSL picks the copy, cannot go further and refuses
    the clients (`(2:unable to get issuer certificate)`), and the expired root is an error. Certificates expiring within
    30 days (`expiry-warning-days`) are a warning. `stream {}` servers are checked the same
    way.

    Only certificates on the chains of the clients the server expects can refuse them (the
    CAs declared with `expected-cas`, else Cloudflare's origin-pull CA on a Cloudflare-fronted
    server, else those of `ssl_client_certificate`, with their roots and intermediates). A
    certificate on none of those chains, such as an intermediate kept in
    `ssl_trusted_certificate` for OCSP stapling, refuses only the clients issued under it:
    its expiry is a note (MTLS005 still reports that it admits other clients).

    With `ssl_crl`, nginx checks a CRL for every certificate of the chain. A CRL past its
    nextUpdate makes nginx refuse every client whose chain goes through its issuer; the error
    log says (level info) `client SSL certificate verify error: (12:CRL has expired) while
    reading client request headers`. CRLs are short-lived: one that expires within 24 hours
    (`crl-warning-hours`, `--crl-warning-hours`) is a warning. An expired CRL of a CA on no
    expected chain is harmless and not reported.

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

    For a stale CRL: put a current CRL of the CA into the `ssl_crl` file and renew it before
    its nextUpdate, automatically.

    ## Verified
    With nginx 1.22.1 (Debian 12, OpenSSL 3.0) on loopback: an expired CA rejects a client
    whose own certificate is in date (in `http {}` and in `stream {}`); the current CA lets
    it in. An expired CRL of the root
    refuses its clients with the log line above and a current one admits them; an expired CRL
    of another CA next to a current one of the root changes nothing; a CRL expiring in 5 hours
    still admits; an expired intermediate of another CA kept in `ssl_trusted_certificate`
    does not refuse the expected clients; an expired root next to its valid cross-signed copy
    refuses its clients without the copy's issuer in the file and admits them with it.
    The expired 2015 Cloudflare CA itself cannot be exercised (no Cloudflare client
    certificate is available to tests); a generated expired CA stands in for it.
    Reproduce: `pytest -m nginx -k MTLS004`.
    """

    id = "MTLS004"
    name = "client-ca-stale"
    severity = "error"
    tags = ("reliability", "mtls", "cloudflare")
    security_severity = "4.0"

    def check_tls_server(self, server: TlsServer, ctx: RuleContext) -> Iterator[Finding]:
        if not server.verifies_clients or not server.serves_tls:
            return  # a plain server (a port-80 redirect) verifies no client: not affected
        yield from self._stale_crls(server, ctx)
        soon = ctx.now + dt.timedelta(days=ctx.expiry_warning_days)
        trust = ctx.trust(server)
        on_chain = ctx.expected_chains(server)
        # A valid issue of the same CA replaces an expired one only when it is anchored
        # itself (a cross-signed copy whose other issuer is missing is not).
        valid_subjects = {c.subject for c in trust.certs if c.sha256 in trust.anchored
                          and c.not_before <= ctx.now <= c.not_after}
        for directive, setting in server.client_ca_settings():
            certs = ctx.ca_file(server, setting).certs
            shown = f"`{directive} {setting.value}`{inherited(setting)}"
            related = inherits(server, setting)
            for cert in certs:
                name = describe(cert)
                fix = "Replace it with the current issue of the CA." + (
                    " " + AOP_CA_SOURCE if cert.sha256 in AOP_CAS else "")
                if cert.sha256 not in on_chain:
                    yield from self._off_chain(server, setting, shown, name, cert, ctx.now)
                elif cert.not_after < ctx.now:
                    expired = f"{name} expired on {cert.not_after:%Y-%m-%d}"
                    if cert.subject in valid_subjects:
                        yield self.finding(
                            setting.stmt,
                            f"{shown}: {expired}; a valid issue of the same CA in the file "
                            "keeps verification working. Remove the stale copy.",
                            "Delete the expired certificate from the file.", server,
                            severity="note", related=related)
                    else:
                        yield self.finding(
                            setting.stmt,
                            f"{shown}: {expired}, so nginx rejects every client "
                            "certificate it issued" + (
                                " (Cloudflare's requests get 400)."
                                if server.cloudflare.fronted or cert.sha256 in AOP_CAS
                                else " (with 400)."),
                            fix, server, related=related, fixes=self._fix(ctx, setting, cert))
                elif cert.not_before > ctx.now:
                    yield self.finding(
                        setting.stmt,
                        f"{shown}: {name} is not valid before {cert.not_before:%Y-%m-%d}; "
                        "until then nginx rejects every client certificate it issued.",
                        "Check the system clock and the certificate's dates.", server,
                        related=related)
                elif cert.not_after < soon:
                    yield self.finding(
                        setting.stmt,
                        f"{shown}: {name} expires on {cert.not_after:%Y-%m-%d}; after that "
                        "nginx rejects every client certificate it issued.",
                        fix, server, severity="warning", related=related,
                        fixes=self._fix(ctx, setting, cert))

    @staticmethod
    def _fix(ctx: RuleContext, setting: Setting, cert: CertInfo) -> list[Fix]:
        """For a Cloudflare origin-pull CA: the current issue at the conventional path."""
        if cert.sha256 not in AOP_CAS or setting.value == AOP_CA_PATH:
            return []
        return make_fix("trust the current Cloudflare origin-pull CA (valid to 2029-11-01)",
                        replace_word(ctx.source, setting.stmt, 1, AOP_CA_PATH))

    def _off_chain(self, server: TlsServer, setting: Setting, shown: str, name: str,
                   cert: CertInfo, now: dt.datetime) -> Iterator[Finding]:
        """A certificate on no expected client's chain (an OCSP stapling chain kept in
        ssl_trusted_certificate, say) cannot refuse those clients: its expiry is a note."""
        if cert.not_before <= now <= cert.not_after:
            return
        state = (f"expired on {cert.not_after:%Y-%m-%d}" if cert.not_after < now
                 else f"is not valid before {cert.not_before:%Y-%m-%d}")
        yield self.finding(
            setting.stmt,
            f"{shown}: {name} {state}; it is on no chain of the clients this server expects, "
            "so it refuses none of them (only clients issued under it).",
            "Remove the certificate from the file, or replace it with its current issue.",
            server, severity="note")

    def _stale_crls(self, server: TlsServer, ctx: RuleContext) -> Iterator[Finding]:
        """`ssl_crl`: a CA on the expected chains whose CRL has expired (or is not yet valid)
        refuses every client under it; one that expires within crl-warning-hours warns."""
        if not server.verification.verify_mode.refuses_failed:
            return
        for verdict in ctx.crl_verdicts(server):
            setting, _ = ctx.crl(server) or (None, None)
            assert setting is not None  # verdicts come from an ssl_crl
            shown = f"`ssl_crl {setting.value}`{inherited(setting)}"
            issuer = verdict.ca.subject or "(empty subject)"
            renew = (f"Put a current CRL from {issuer} into {setting.value} and renew it "
                     "automatically before its nextUpdate (CRLs are short-lived), e.g. "
                     "`openssl ca -gencrl -out crl.pem` or your CA's CRL download.")
            if verdict.expired is not None:
                yield self.finding(
                    setting.stmt,
                    f"{shown}: the CRL from {issuer} expired on "
                    f"{verdict.expired.next_update:%Y-%m-%d %H:%M} UTC (nextUpdate), so "
                    "nginx refuses every client certificate whose chain goes through "
                    f"{issuer} (\"CRL has expired\").", renew, server)
            elif verdict.not_yet_valid is not None:
                yield self.finding(
                    setting.stmt,
                    f"{shown}: the CRL from {issuer} is not valid before "
                    f"{verdict.not_yet_valid.last_update:%Y-%m-%d %H:%M} UTC, so until "
                    "then nginx refuses every client certificate whose chain goes "
                    f"through {issuer} (\"CRL is not yet valid\").",
                    "Check the system clock and the CRL's lastUpdate.", server)
            elif verdict.expiring is not None:
                yield self.finding(
                    setting.stmt,
                    f"{shown}: the CRL from {issuer} expires on "
                    f"{verdict.expiring.next_update:%Y-%m-%d %H:%M} UTC, within "
                    f"{ctx.crl_warning_hours} hours; after that nginx refuses every "
                    f"client certificate whose chain goes through {issuer}.",
                    renew, server, severity="warning")


def describe(cert: CertInfo) -> str:
    if cert.sha256 == AOP_CA_2015:
        return "the 2015 issue of the Cloudflare origin-pull CA"
    if cert.sha256 in AOP_CAS:
        return "the Cloudflare origin-pull CA"
    return f"the CA certificate {cert.subject or '(empty subject)'}"
