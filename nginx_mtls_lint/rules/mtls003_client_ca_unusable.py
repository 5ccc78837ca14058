from __future__ import annotations

import os
from typing import Iterator

from ..findings import Finding
from ..loader import display_path
from ..model import Config
from . import Rule, RuleContext, client_ca_settings, where


class ClientCaUnusable(Rule):
    """The client CA file is missing, unreadable, not PEM, holds no CA, or holds a private key.

    ## Why
    nginx refuses to start (or to reload) when `ssl_client_certificate` or
    `ssl_trusted_certificate` names a file it cannot load, and a file with no CA certificate
    rejects every client, Cloudflare included. A private key in a CA file is a leak: CA
    files are public by nature and get copied around with the configuration.

    `ssl_verify_client on` or `optional` with no CA file at all fails `nginx -t` too (from
    nginx 1.27.2 an `ssl_trusted_certificate` alone is accepted).

    Checked for every server that verifies client certificates, Cloudflare-fronted or not.
    Paths are resolved like nginx does (relative to the prefix, through `--path-map`). When
    the file exists only on the server and not in your checkout, map its folder with
    `--path-map /etc/nginx/certs=DIR`, or lower this rule to a warning in
    `.nginx-mtls-lint.yaml`.

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
    a leak.
    Reproduce: `pytest -m nginx -k MTLS003`.
    """

    id = "MTLS003"
    name = "client-ca-unusable"
    severity = "error"
    tags = ("security", "mtls", "reliability")
    security_severity = "5.0"

    def check(self, config: Config, ctx: RuleContext) -> Iterator[Finding]:
        yield from self._no_ca_at_all(config)
        for server, directive, setting in client_ca_settings(config):
            ca = ctx.ca_file(server, setting)
            shown = f"`{directive} {setting.value}` at {where(setting)}"
            if ca.has_private_key:
                yield self.finding(
                    setting.stmt,
                    f"{shown}: the file holds a private key. CA files are public and travel "
                    "with the configuration; the key is exposed to everyone who reads them.",
                    "Remove the private key from the file (keep only CERTIFICATE blocks) and "
                    "replace the key, since it must be considered leaked.", server)
            if ca.problem is None:
                continue
            shown_path = display_path(ca.path)
            read = "" if shown_path == setting.value else f" (looked for {shown_path})"
            if ca.missing:
                message = (f"{shown}: the file does not exist{read}, so nginx will not "
                           "start with this configuration.")
                fix = f"Put the CA file at {shown_path}."
                if os.path.isabs(setting.value):
                    fix += (" If it exists only on the server, map its folder onto your "
                            f"checkout with --path-map {os.path.dirname(setting.value)}=DIR, "
                            "or lower MTLS003 to a warning in .nginx-mtls-lint.yaml.")
            else:
                message = (f"{shown}: the file {ca.problem}{read}, so nginx cannot verify "
                           "any client certificate with it.")
                fix = (f"Point {directive} at a PEM file holding the CA certificate(s) that "
                       "issue your clients' certificates.")
            yield self.finding(setting.stmt, message, fix, server)

    def _no_ca_at_all(self, config: Config) -> Iterator[Finding]:
        """`on`/`optional` with no CA file: nginx -t fails (1.27.2+ accepts a trusted file)."""
        reported: set[int] = set()
        for server in config.servers:
            mode, setting = server.verify_mode()
            if mode not in ("on", "optional") or id(setting.stmt) in reported:
                continue
            if server.client_ca_settings():
                continue
            reported.add(id(setting.stmt))
            yield self.finding(
                setting.stmt,
                f"`ssl_verify_client {mode}` at {where(setting)} and no ssl_client_certificate "
                f"for {server.label}: nginx refuses the configuration (\"no "
                "ssl_client_certificate for ssl_verify_client\").",
                "ssl_client_certificate /etc/nginx/certs/client-ca.pem;  (for Cloudflare: the "
                "origin-pull CA)", server)
