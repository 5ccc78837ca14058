from __future__ import annotations

import sys
from typing import Iterator

from ..findings import Finding, Related
from ..model import Config
from . import Rule, RuleContext


class IngressHostScope(Rule):
    """Several Ingresses of one host ask for different client verification: the oldest one
    with a CA decides for every path of the host, and a repository does not say which is oldest.

    ## Why
    ingress-nginx renders client verification per server block, one per host. It sorts the
    Ingresses by creation time and takes the `auth-tls-*` annotations of the first one whose
    `auth-tls-secret` yields a CA; every later Ingress of that host keeps its paths but loses its
    own `auth-tls-*` annotations (a log line at verbosity 3: "Server ... is already configured
    for mutual authentication"). An Ingress with `auth-tls-verify-client: "on"` can thus end up
    served under another one's `optional_no_ca`, or its error page, on the same host.

    Creation times are not in a repository: a re-created Ingress, a restore or a new cluster
    changes the order. The linter renders the weakest candidate (every order is possible, so the
    verdict is the worst one) and reports, at each other candidate's `auth-tls-secret`, which
    Ingresses' order decides. (Rule of Kubernetes manifests: ingress-nginx controller-v1.15.1,
    `internal/ingress/controller/controller.go` `getBackendServers`.)

    ## Example
    ```yaml
    apiVersion: networking.k8s.io/v1
    kind: Ingress
    metadata:
      name: shop
      namespace: shop
      annotations:
        nginx.ingress.kubernetes.io/auth-tls-secret: shop/client-ca  # expect: MTLS109
        nginx.ingress.kubernetes.io/auth-tls-verify-client: "on"
    spec:
      ingressClassName: nginx
      rules:
        - host: shop.example.com
          http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: shop, port: {number: 80}}}}]}
    ---
    apiVersion: networking.k8s.io/v1
    kind: Ingress
    metadata:
      name: shop-api
      namespace: shop
      annotations:
        nginx.ingress.kubernetes.io/auth-tls-secret: shop/client-ca  # expect: MTLS911
        nginx.ingress.kubernetes.io/auth-tls-verify-client: optional_no_ca
    spec:
      ingressClassName: nginx
      rules:
        - host: shop.example.com
          http: {paths: [{path: /api, pathType: Prefix, backend: {service: {name: api, port: {number: 80}}}}]}
    ```

    ## Fix
    Give every Ingress of a host the same `auth-tls-*` annotations (the strongest: `auth-tls-
    verify-client: "on"`), or move the paths that need other verification to another host.

    ## Verified
    The rendering of each order is run by nginx (`pytest -m nginx -k MTLS109`): under the weaker
    Ingress's `optional_no_ca`, a client without a certificate gets the stronger Ingress's path.
    """

    id = "MTLS109"
    name = "ingress-host-scope"
    severity = "warning"
    tags = ("security", "kubernetes")
    security_severity = "6.5"

    def check(self, config: Config, ctx: RuleContext) -> Iterator[Finding]:
        # Only manifests are rendered, through the kubernetes package: a run that has not
        # imported it has nothing to look at (and does not pay for YAML).
        kubernetes = sys.modules.get("nginx_mtls_lint.kubernetes")
        rendering = kubernetes.rendering_of(config.tree.stmts) if kubernetes else None
        for fact in getattr(rendering.renderer, "facts", []) if rendering else []:
            if fact.kind != "scope":
                continue
            finding = Finding(self.id, self.name, self.severity, fact.message + ".", fact.file,
                              fact.line, fix="Give every Ingress of the host the same auth-tls-* "
                              'annotations (auth-tls-verify-client: "on"), or move these paths '
                              "to a host of their own.", directive=f"scope {fact.host}")
            finding.related = [Related(f, n, label) for f, n, label in fact.related]
            yield finding
