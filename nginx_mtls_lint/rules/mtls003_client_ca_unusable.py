from __future__ import annotations

import os
from typing import Iterator

from ..cafile import CAFile
from ..findings import Finding
from ..loader import display_path
from .. import versions
from ..model import Setting, TlsServer
from . import Rule, RuleContext, evidence, inherited, inherits
from .fixes import AOP_CA_PATH, aop_ca_path, insert_after, make_fix

OLDER_WORDING = versions.UNKNOWN.no_client_ca_message()
NEWER_WORDING = versions.Target(versions.parse_upstream("1.27.2")).no_client_ca_message()


class ClientCaUnusable(Rule):
    """The client CA or CRL file is missing, unreadable, not PEM, holds no CA (or no CRL), or
    holds a private key.

    ## Why
    nginx refuses to start (or to reload) when `ssl_client_certificate`,
    `ssl_trusted_certificate` or `ssl_crl` names a file it cannot load, and a file with no CA
    certificate rejects every client, Cloudflare included. A private key in a CA or CRL file
    is a leak: those files are public by nature and get copied around with the configuration.

    `ssl_verify_client on` or `optional` with no CA file at all fails `nginx -t` too. With
    only `ssl_trusted_certificate` it depends on the version: nginx before 1.27.2 refuses it
    ("no ssl_client_certificate for ssl_verify_client"), 1.27.2 and later accept it and
    verify against it. Reported as an error for a target before 1.27.2, not at all from
    1.27.2, and as a warning when the nginx version is unknown (`--nginx-version`).

    File forms, as nginx 1.22.1 (OpenSSL 3.0) treats them:

    - DER instead of PEM fails `nginx -t` (`SSL_CTX_load_verify_locations(...) failed
      (SSL: error:05800088:x509 certificate routines::no certificate or crl found)`, and
      `X509_LOOKUP_load_file(...)` for `ssl_crl`); the fix is the conversion
      `openssl x509 -inform der -in F -out F.pem` (a certificate) or
      `openssl crl -inform der -in F -out F.pem` (a CRL).
    - A truncated block or bad base64 anywhere in the file fails `nginx -t` ("bad end line",
      "bad base64 decode"), even when other blocks are fine.
    - A symbolic link to a CA file works; a dangling one fails `nginx -t` ("No such file").
    - A file holding only end-entity certificates loads and verifies no client they issued;
      a self-signed one (a "pinned" client certificate) admits the client presenting exactly
      that certificate, which the message says (MTLS005 reports it next to the origin-pull
      CA).
    - An `ssl_crl` file holding certificates but no CRL loads, and then every client is
      refused: `client SSL certificate verify error: (3:unable to get certificate CRL) while
      reading client request headers` (error log, level info). An `ssl_crl` file larger than
      the linter reads (4 MiB) is a warning: it was not checked.

    Checked for every server that verifies client certificates, Cloudflare-fronted or not,
    in `http {}` and in `stream {}`.
    Paths are resolved like nginx does (relative to the prefix, through `--path-map`). In a
    checkout (a tree that is not this machine's live nginx), a file named by an absolute path
    outside the tree and not mapped with `--path-map` is "not available here" rather than
    missing: it is not reported, and one note per file (MTLS911) says which checks were
    skipped and which `--path-map` lets them run. A live audit, or an `nginx -T` dump of this
    machine, reports it.

    ## Example
    ```nginx
    server {
        listen 443 ssl;
        server_name internal.example.com;
        ssl_certificate     /etc/nginx/certs/internal.pem;
        ssl_certificate_key /etc/nginx/certs/internal.key;
        ssl_client_certificate /etc/nginx/certs/no-such-ca.pem;  # expect: MTLS003
        ssl_verify_client on;
    }
    ```

    ## Fix
    Point the directive at a PEM file that holds only the CA certificate(s) clients are
    issued by, for Cloudflare: `ssl_client_certificate /etc/nginx/certs/origin-pull-ca.pem;`.

    ## Verified
    With nginx 1.22.1 (Debian 12, OpenSSL 3.0) on loopback: a missing or non-PEM CA file,
    or none at all, makes `nginx -t` fail; a valid file starts and serves valid clients.
    The private-key case is not a runtime failure (nginx ignores the key); it is reported as
    a leak. A DER CA file and a DER CRL fail `nginx -t` with "no certificate or crl found"
    and the printed `openssl ... -inform der` command makes them load; a symlinked CA file
    verifies clients and a dangling one fails `nginx -t`. `ssl_trusted_certificate` alone:
    refused by `nginx -t` on upstream 1.26.2 and Debian's 1.22.1, accepted by 1.28.0 and
    1.30.4 (which then let a client of that CA in).
    Reproduce: `pytest -m nginx -k MTLS003`.
    """

    id = "MTLS003"
    name = "client-ca-unusable"
    severity = "error"
    tags = ("security", "mtls", "reliability")
    security_severity = "5.0"

    def check_tls_server(self, server: TlsServer, ctx: RuleContext) -> Iterator[Finding]:
        yield from self._no_ca_at_all(server, ctx)
        if server.verifies_clients:
            yield from self._ca_files(server, ctx)
            yield from self._crl_file(server, ctx)

    def _ca_files(self, server: TlsServer, ctx: RuleContext) -> Iterator[Finding]:
        """Client and trusted CA files nginx cannot load, or that hold a private key."""
        for directive, setting in server.client_ca_settings():
            ca = ctx.ca_file(server, setting)
            shown = f"`{directive} {setting.value}`{inherited(setting)}"
            related = inherits(server, setting)
            if ca.has_private_key:
                yield self.finding(
                    setting.stmt,
                    f"{shown}: the file holds a private key. CA files are public and travel "
                    "with the configuration; the key is exposed to everyone who reads them.",
                    "Remove the private key from the file (keep only CERTIFICATE blocks) and "
                    "replace the key, since it must be considered leaked.", server,
                    related=related)
            if ca.problem is None or ca.unavailable:  # not in this checkout: noted once
                continue
            shown_path = display_path(ca.path)
            read = "" if shown_path == setting.value else f" (looked for {shown_path})"
            form = _file_form(directive, setting, ca, shown)
            if form is not None:
                message, fix = form
            elif ca.missing:
                message = (f"{shown}: the file does not exist{read}, so nginx will not "
                           "start with this configuration.")
                fix = f"Put the CA file at {shown_path}."
                if os.path.isabs(setting.value):
                    fix += (" If it exists only on the server, map its folder onto your "
                            f"checkout with --path-map {os.path.dirname(setting.value)}=DIR, "
                            "or lower MTLS003 to a warning in .nginx-mtls-lint.yaml.")
            else:
                message = (f"{shown}: the file {ca.problem}{read}, so nginx verifies no "
                           "client certificate issued under it.")
                fix = (f"Point {directive} at a PEM file holding the CA certificate(s) that "
                       "issue your clients' certificates.")
            yield self.finding(setting.stmt, message, fix, server, related=related)

    def _crl_file(self, server: TlsServer, ctx: RuleContext) -> Iterator[Finding]:
        """`ssl_crl` naming a file nginx cannot load, one with no CRL, or a private key."""
        found = ctx.crl(server)
        if found is None:
            return
        setting, crl = found
        shown = f"`ssl_crl {setting.value}`{inherited(setting)}"
        if crl.has_private_key:
            yield self.finding(
                setting.stmt,
                f"{shown}: the file holds a private key; CRL files are public and the key "
                "is exposed to everyone who reads them.",
                "Remove the private key from the file (keep only X509 CRL blocks) and "
                "replace the key, since it must be considered leaked.", server)
        if crl.crl_problem is None:
            return
        form = _file_form("ssl_crl", setting, crl, shown)
        if crl.too_large:
            yield self.finding(
                setting.stmt,
                f"{shown}: the file {crl.crl_problem}; the linter did not read it, so the "
                "CRLs it holds were not checked.",
                "Check it with `openssl crl -in FILE -noout -nextupdate`, or lower this "
                "finding in .nginx-mtls-lint.yaml if the CRL is known to be large.",
                server, severity="warning")
            return
        if form is None:
            consequence = "" if "nginx" in crl.crl_problem else \
                ", so nginx will not start with this configuration"
            form = (f"{shown}: the file {crl.crl_problem}{consequence}.",
                    "Point ssl_crl at a PEM file holding a current CRL (-----BEGIN X509 "
                    "CRL-----) from every CA of your clients' chains, or remove ssl_crl.")
        yield self.finding(setting.stmt, *form, server)

    def _no_ca_at_all(self, server: TlsServer, ctx: RuleContext) -> Iterator[Finding]:
        """`on`/`optional` with no client CA file: nginx -t fails; with only
        ssl_trusted_certificate it fails before 1.27.2 (a warning when the version is
        unknown) and is accepted from 1.27.2."""
        target = ctx.target
        mode, setting = server.verification.mode, server.verification.setting
        if setting is None or not server.verification.verify_mode.needs_client_ca:
            return
        files = dict(server.client_ca_settings())
        trusted = files.get("ssl_trusted_certificate")
        if "ssl_client_certificate" in files or (trusted and target.trusted_only_accepted):
            return
        refuses = f"nginx {versions.shown(target.upstream)}" if target.upstream else "nginx"
        if trusted is None:
            said = f"(\"{target.no_client_ca_message()}\")"
            if not target.known:
                said = f"(\"{OLDER_WORDING}\"; 1.27.2 and later: \"{NEWER_WORDING}\")"
            yield self.finding(
                setting.stmt,
                f"`ssl_verify_client {mode}`{inherited(setting)} and no "
                f"ssl_client_certificate for {server.title}: {refuses} refuses the "
                f"configuration {said}.",
                "ssl_client_certificate /etc/nginx/certs/client-ca.pem;  (for Cloudflare: "
                "the origin-pull CA)", server, related=inherits(server, setting),
                fixes=make_fix("name the CA file that issues your clients' certificates",
                               insert_after(ctx.source, setting.stmt,
                                            f"ssl_client_certificate {aop_ca_path(ctx, server)};")))
            return
        # only nginx before 1.27.2 refuses it, in these words
        message = (f"`ssl_verify_client {mode}`{inherited(setting)} with only "
                   f"`ssl_trusted_certificate {trusted.value}`{inherited(trusted)} for {server.title}: ")
        if target.known:
            message += (f"{refuses} refuses the configuration (\"{OLDER_WORDING}\"); nginx "
                        "accepts a trusted certificate file alone only from 1.27.2.")
        else:
            message += (f"nginx before 1.27.2 refuses the configuration (\"{OLDER_WORDING}"
                        f"\"); 1.27.2 and later accept it. The nginx version is unknown "
                        f"({target.source}): give --nginx-version.")
        yield self.finding(
            setting.stmt, message,
            f"ssl_client_certificate {trusted.value};  (in place of ssl_trusted_certificate,"
            " or upgrade nginx to 1.27.2 or later)", server,
            severity=None if target.known else "warning",
            related=[*inherits(server, setting), *inherits(server, trusted),
                     evidence(trusted, "the only CA file: `ssl_trusted_certificate`")])


def _file_form(directive: str, setting: Setting, ca: CAFile,
               shown: str) -> tuple[str, str] | None:
    """A DER file or a dangling symbolic link: what nginx says and the command that fixes it."""
    if ca.dangling_link is not None:
        return (f"{shown}: the file is a symbolic link to {ca.dangling_link}, which does not "
                "exist, so nginx will not start with this configuration.",
                f"Point the link at the existing file, or {directive} at the file itself.")
    if ca.der is None:
        return None
    stem, ext = os.path.splitext(setting.value)
    target = (stem if ext.lower() in (".der", ".cer", ".crt", ".crl") else setting.value) + ".pem"
    tool = "crl" if ca.der == "crl" else "x509"
    return (f"{shown}: the file {ca.problem}, so nginx will not start with this "
            "configuration.",
            f"Convert it to PEM: `openssl {tool} -inform der -in {setting.value} -out "
            f"{target}` and use `{directive} {target};`.")
