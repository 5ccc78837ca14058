"""Findings about manifests, in the manifest's words.

The rules judge the rendered nginx; every rendered statement already sits on the manifest line
that caused it. Here: the findings only the manifests can give (declared verification that
renders nothing), and each finding in a manifest gets its fix as a manifest edit and the
rendered nginx as related information.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..findings import Finding, Related
from ..parser import Stmt
from .ingress_nginx import PREFIX

if TYPE_CHECKING:
    from . import Inputs, Rendering

A = PREFIX
# Rendered directive -> the manifest edit that changes it (ingress-nginx).
FIXES = {
    "ssl_verify_client": f'set `{A}auth-tls-verify-client: "on"` (nginx then refuses clients '
                         "without a valid certificate in the handshake)",
    "server": f"give the Secret named by `{A}auth-tls-secret` a `ca.crt` key holding the "
                   "client CA (for Cloudflare: the origin-pull CA); ingress-nginx renders no "
                   "verification without it",
    "listen": f'remove `{A}ssl-redirect: "false"`, list the host under `spec.tls`, and keep '
              '`use-forwarded-headers` off unless a proxy you run sets X-Forwarded-Proto '
              "(port 80 then redirects every request)",
    "ssl_reject_handshake": 'set `ssl-reject-handshake: "true"` in the controller\'s ConfigMap',
    "error_page": f"remove `{A}auth-tls-error-page`, or point it at an absolute URL "
                  "(`https://example.com/cert-required`) that is not served by this host",
    "ssl_client_certificate": "put the right CA into the Secret's `ca.crt` (for Cloudflare: "
                              "the origin-pull CA)",
    "ssl_crl": "refresh the Secret's `ca.crl`",
    "proxy_set_header": f'set `{A}auth-tls-verify-client: "on"`',
    "if": f"write `{A}auth-tls-match-cn` as nginx writes the name (RFC 2253: `CN=name,O=org`, "
          "no spaces, most specific first), escape its dots and end it: "
          '`"CN=partner\\.example(,|$)"`',
}
FACT_FIXES_FALLBACK = ("remove `mode: AllowInsecureFallback` (the default, AllowValidOnly, "
                       "refuses clients without a valid certificate)")
# The same edits for the other controllers' fields.
OTHER_FIXES = {
    "nginx-ingress": {
        "ssl_verify_client": 'set `verifyClient: "on"` in the Policy\'s ingressMTLS',
        "listen": "let port 80 redirect instead of serving: `spec.tls.redirect.enable: true` "
                  "(basedOn: scheme) on a VirtualServer; on an Ingress, the host under "
                  '`spec.tls` and no `ingress.kubernetes.io/ssl-redirect: "false"`',
        "ssl_client_certificate": "put the right CA into the clientCertSecret's `ca.crt`",
    },
    "gateway-api": {
        "ssl_verify_client": FACT_FIXES_FALLBACK,
        "listen": "attach the HTTPRoute to the HTTPS listener only (`sectionName` in its "
                  "parentRef), or give the host's HTTP listener a redirect route only",
        "server": "attach the HTTPRoute to the HTTPS listener only (`sectionName` in its "
                  "parentRef), or give the host's HTTP listener a redirect route only",
        "ssl_client_certificate": "put the right CA into the ConfigMap named by "
                                  "`caCertificateRefs` (key ca.crt)",
    },
}
# Rules whose cause is the same whatever statement they point at.
RULE_FIXES = {"MTLS101": "listen", "MTLS103": "ssl_reject_handshake", "MTLS104": "error_page",
              "MTLS011": "if"}
FACT_FIXES = {
    "invalid-verify": f'write `{A}auth-tls-verify-client: "on"` (quoted: YAML reads a bare on '
                      "as true)",
    "policy-ignored": "list the host under the Ingress's `spec.tls` (with its certificate "
                      "Secret), so that the controller applies the ingressMTLS Policy",
    "fallback": FACT_FIXES_FALLBACK,
}
NOTE_FIX = ("Nothing to fix in nginx: edit the manifest field on this line; the nginx the "
            "controller renders from it is shown as related information.")


def controllers_at(stmts: list[Stmt], controller: str, out: dict[tuple[str, int], str]) -> None:
    for stmt in stmts:
        out.setdefault((stmt.file, stmt.line), controller)
        if stmt.block is not None:
            controllers_at(stmt.block, controller, out)


def rendered_lines(stmts: list[Stmt], out: dict[tuple[str, int], str]) -> None:
    for stmt in stmts:
        if stmt.name == "#":
            continue
        text = " ".join([stmt.name, *stmt.args]) + (" { ... }" if stmt.block is not None
                                                     else ";")
        key = (stmt.file, stmt.line)
        if key not in out and stmt.name not in ("events", "http"):
            out[key] = text
        if stmt.block is not None:
            rendered_lines(stmt.block, out)


def fact_findings(rendering: "Rendering", existing: list[Finding]) -> list[Finding]:
    """Declared verification that renders nothing (MTLS002 where MTLS001 did not already
    report it), and invalid values ingress-nginx replaces."""
    from . import RULE_MTLS002
    taken = {(f.file, f.line) for f in existing if f.rule in ("MTLS001", "MTLS002")}
    out = []
    for fact in getattr(rendering.renderer, "facts", []):
        if fact.kind not in ("no-ca", "no-secret", "invalid-verify", "policy-ignored",
                             "fallback"):
            continue
        if (fact.file, fact.line) in taken:
            continue
        severity = "note" if fact.kind == "invalid-verify" else "error"
        fix = FACT_FIXES.get(fact.kind, FIXES["server"])
        message = fact.message + (
            "." if fact.kind == "invalid-verify" else
            ": clients are not verified, whatever the annotations declare.")
        finding = Finding("MTLS002", RULE_MTLS002, severity, message, fact.file, fact.line,
                          fix=fix,
                          directive=f"{fact.kind} {fact.host}")
        finding.related = [Related(f, n, label) for f, n, label in fact.related]
        out.append(finding)
    return out


def manifest_fix(rule: str, stmt: Stmt | None, controller: str) -> str | None:
    """The manifest edit that closes what `rule` found at the rendered `stmt`."""
    key = RULE_FIXES.get(rule, stmt.name if stmt is not None else None)
    if key == "if" and (stmt is None or stmt.args[:1] != ["$ssl_client_s_dn"]):
        return None  # an `if` of a snippet: only auth-tls-match-cn renders this one
    return OTHER_FIXES.get(controller, FIXES).get(key or "")


def review(findings: list[Finding], inputs: "Inputs | None") -> list[Finding]:
    if inputs is None or not inputs.renderings:
        return findings
    rendered: dict[tuple[str, int], str] = {}
    controllers: dict[tuple[str, int], str] = {}
    for rendering in inputs.renderings:
        controllers_at(rendering.stmts, rendering.controller, controllers)
        findings = findings + fact_findings(rendering, findings)
        rendered_lines(rendering.stmts, rendered)
    files = set(inputs.manifests.files)
    for finding in findings:
        if finding.file not in files:
            continue
        finding.fixes = []  # edits of nginx text: the manifest is what one edits
        stmt = finding.statement
        controller = controllers.get((finding.file, finding.line or 0), "ingress-nginx")
        if finding.rule == "MTLS911":
            finding.message = finding.message.split(": the file is on", 1)[0] + (
                ": rendered from a Secret (or ConfigMap) that is not in the manifests given, so "
                "the checks that read its ca.crt (missing, expired or wrong CA) were skipped" + (
                    "; if it has no ca.crt at all, ingress-nginx renders no verification"
                    if controller == "ingress-nginx" else "")
                + ". Lint its manifest with the others (ca.crt is public).")
            finding.fix = "Add the referenced manifest (its ca.crt only) to the files linted."
        elif not finding.rule.startswith("MTLS9"):
            fix = manifest_fix(finding.rule, stmt if isinstance(stmt, Stmt) else None,
                               controller)
            if fix is not None:
                finding.fix = fix[0].upper() + fix[1:] + "."
        text = rendered.get((finding.file, finding.line or 0))
        if isinstance(stmt, Stmt) and stmt.name != "#":
            text = " ".join([stmt.name, *stmt.args]) + (";" if stmt.block is None else " { ... }")
        if text is not None and finding.line is not None:
            finding.related = [*finding.related,
                               Related(finding.file, finding.line, f"renders `{text}`")]
    return findings
