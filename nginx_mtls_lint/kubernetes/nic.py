"""F5 NGINX Ingress Controller (nginx/kubernetes-ingress, commit 0eb3072d): what its
`version2/nginx.virtualserver.tmpl` and `version1/nginx.ingress.tmpl` write for a `Policy`
with `ingressMTLS` attached to a VirtualServer (`spec.policies`) or an Ingress
(`nginx.org/policies`).

Followed: `pkg/apis/configuration/validation/policy.go` (verifyClient on | off | optional |
optional_no_ca, default on; verifyDepth default 1), `internal/configs/virtualserver.go`
(ingressMTLS only in the VirtualServer's own policies, only with `spec.tls`, else `return 500`;
the first ingressMTLS policy wins), `internal/configs/ingress.go` l.447-455 (an Ingress host
without TLS ignores the policy, a warning only), `configurator.go` (CA file
/etc/nginx/secrets/<ns>-<name>-ca.crt). VirtualServers listen on 80 unless
`tls.redirect.enable`; Ingresses redirect to https by default when the host has TLS.
Upstreams are a stub `proxy_pass http://backend;`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..parser import Stmt
from .ingress_nginx import Fact, _text, true
from .objects import Manifests, Obj
from .render import FileStore, backend, stmt
from .yamlnodes import Node

CONTROLLER = "nginx.org/ingress-controller"
RELEASE = "F5 NGINX Ingress Controller (kubernetes-ingress 0eb3072d)"
NGINX_VERSION = "1.29.1"  # nginx 1.29 mainline: the base image of that commit
SECRETS = "/etc/nginx/secrets"
VERIFY = ("on", "off", "optional", "optional_no_ca")


@dataclass(slots=True)
class Mtls:
    policy: Obj
    spec: Node
    verify: str
    depth: str
    secret_ref: str

    @property
    def file(self) -> str:
        return self.policy.file

    def line(self, key: str) -> int:
        node = self.spec.get(key)
        return node.at if node is not None else self.spec.at


class Renderer:
    def __init__(self, manifests: Manifests, owned: list[Obj], store: FileStore):
        self.manifests = manifests
        self.owned = owned
        self.store = store
        self.facts: list[Fact] = []
        first = owned[0]
        self.anchor = (first.file, first.node.at)

    def mtls(self, ref: Node, namespace: str | None) -> Mtls | None:
        name = ref.text("name") if isinstance(ref.value, dict) else ref.value
        if not isinstance(name, str):
            return None
        ns = (ref.text("namespace") if isinstance(ref.value, dict) else None) or namespace
        if "/" in name:
            ns, name = name.split("/", 1)
        policy = self.manifests.find("Policy", ns, name.strip())
        spec = policy.node.get("spec", "ingressMTLS") if policy else None
        if policy is None or spec is None:
            return None
        verify = spec.text("verifyClient") or "on"
        depth = spec.text("verifyDepth") or "1"
        return Mtls(policy, spec, verify if verify in VERIFY else "on", depth,
                    spec.text("clientCertSecret") or "")

    def client_auth(self, mtls: Mtls) -> list[Stmt]:
        namespace = mtls.policy.namespace or "default"
        path = f"{SECRETS}/{namespace}-{mtls.secret_ref}-ca.crt"
        secret = self.manifests.find("Secret", mtls.policy.namespace, mtls.secret_ref)
        data = secret.data("ca.crt")[0] if secret is not None else None
        if data is not None:
            self.store.add(path, data)
        else:
            self.store.absent.add(path)
        return [stmt("ssl_client_certificate", [path], mtls.file, mtls.line("clientCertSecret")),
                stmt("ssl_verify_client", [mtls.verify], mtls.file, mtls.line("verifyClient")),
                stmt("ssl_verify_depth", [mtls.depth], mtls.file, mtls.line("verifyDepth"))]

    def render(self) -> list[Stmt]:
        http: list[Stmt] = [backend(self.anchor), self.default_server()]
        for obj in self.owned:
            http += self.virtual_server(obj) if obj.kind == "VirtualServer" else self.ingress(obj)
        return [stmt("events", [], *self.anchor, []), stmt("http", [], *self.anchor, http)]

    def default_server(self) -> Stmt:
        at = self.anchor
        return stmt("server", [], *at, [
            stmt("listen", ["80", "default_server"], *at),
            stmt("listen", ["443", "ssl", "default_server"], *at),
            stmt("ssl_reject_handshake", ["on"], *at),
            stmt("server_name", ["_"], *at), stmt("return", ["404"], *at)])

    @staticmethod
    def location(path: str, file: str, line: int, body: list[Stmt] | None = None) -> Stmt:
        return stmt("location", [path], file, line,
                    body or [stmt("proxy_pass", ["http://backend"], file, line)])

    def virtual_server(self, vs: Obj) -> list[Stmt]:
        file = vs.file
        host_node = vs.node.get("spec", "host") or vs.node
        host = host_node.value if isinstance(host_node.value, str) else "_"
        tls = vs.node.get("spec", "tls")
        found = [self.mtls(p, vs.namespace) for p in vs.node.seq("spec", "policies")]
        mtls = next((m for m in found if m is not None), None)
        redirect = tls is not None and true(vs.node.text("spec", "tls", "redirect", "enable"))
        http_at = (file, (tls or host_node).at)
        body = [stmt("listen", ["80"], *http_at), stmt("server_name", [host], file, host_node.at)]
        if tls is not None:
            body += [stmt("listen", ["443", "ssl"], file, tls.at),
                     stmt("ssl_certificate", [f"{SECRETS}/default"], file, tls.at),
                     stmt("ssl_certificate_key", [f"{SECRETS}/default"], file, tls.at)]
        if mtls is not None and tls is None:
            body.append(stmt("return", ["500"], mtls.file, mtls.spec.at))  # invalid policy
        elif mtls is not None:
            body += self.client_auth(mtls)
        if redirect and tls is not None:
            body.append(self.redirect(vs, tls))
        body += self.routes(vs)
        return [stmt("server", [], file, host_node.at, body)]

    @staticmethod
    def redirect(vs: Obj, tls: Node) -> Stmt:
        """`tls.redirect`: on the scheme, or on X-Forwarded-Proto (`basedOn`)."""
        based = vs.node.text("spec", "tls", "redirect", "basedOn") or "scheme"
        variable = "$http_x_forwarded_proto" if based == "x-forwarded-proto" else "$scheme"
        code = vs.node.text("spec", "tls", "redirect", "code") or "301"
        return stmt("if", [variable, "=", "http"], vs.file, tls.at,
                    [stmt("return", [code, "https://$host$request_uri"], vs.file, tls.at)])

    def routes(self, vs: Obj) -> list[Stmt]:
        out = []
        for route in vs.node.seq("spec", "routes"):
            path_node = route.get("path") or route
            path = path_node.value if isinstance(path_node.value, str) else "/"
            if any(self.mtls(p, vs.namespace) for p in route.seq("policies")):
                # ingressMTLS is not allowed in the route context: the route answers 500
                out.append(self.location(path, vs.file, path_node.at,
                                         [stmt("return", ["500"], vs.file, path_node.at)]))
            else:
                out.append(self.location(path, vs.file, path_node.at))
        return out

    @staticmethod
    def ingress_redirect(ingress: Obj, line: int) -> list[Stmt]:
        """version1 nginx.ingress.tmpl: `ingress.kubernetes.io/ssl-redirect` (default true)
        redirects on $scheme; `nginx.org/redirect-to-https: "true"` on X-Forwarded-Proto."""
        annotations = ingress.annotations()
        if true(_text(annotations.get("nginx.org/redirect-to-https"))):
            variable = "$http_x_forwarded_proto"
        elif _text(annotations.get("ingress.kubernetes.io/ssl-redirect")) in ("false", "False"):
            return []
        else:
            variable = "$scheme"
        where = annotations.get("nginx.org/redirect-to-https") or \
            annotations.get("ingress.kubernetes.io/ssl-redirect")
        at = where.at if where is not None else line
        return [stmt("if", [variable, "=", "http"], ingress.file, at, [
            stmt("return", ["301", "https://$host:443$request_uri"], ingress.file, at)])]

    def ingress(self, ingress: Obj) -> list[Stmt]:
        file = ingress.file
        policies = ingress.node.get("metadata", "annotations", "nginx.org/policies")
        mtls = None
        if policies is not None and isinstance(policies.value, str):
            for name in policies.value.split(","):
                mtls = mtls or self.mtls(Node(name.strip(), policies.line, 0), ingress.namespace)
        tls_hosts = {h.value for entry in ingress.node.seq("spec", "tls")
                     for h in entry.seq("hosts")}
        servers = []
        for rule in ingress.node.seq("spec", "rules"):
            host_node = rule.get("host") or rule
            host = host_node.value if isinstance(host_node.value, str) else "_"
            off = ingress.node.get("metadata", "annotations", "ingress.kubernetes.io/ssl-redirect")
            body = [stmt("listen", ["80"], file, (off or host_node).at),
                    stmt("server_name", [host], file, host_node.at)]
            if host in tls_hosts:
                body += [stmt("listen", ["443", "ssl"], file, host_node.at),
                         stmt("ssl_certificate", [f"{SECRETS}/default"], file, host_node.at),
                         stmt("ssl_certificate_key", [f"{SECRETS}/default"], file, host_node.at)]
                if mtls is not None and policies is not None:
                    body += self.client_auth(mtls)
                body += self.ingress_redirect(ingress, host_node.at)
            elif mtls is not None and policies is not None:
                self.facts.append(Fact(
                    "policy-ignored", file, policies.at,
                    f"ingressMTLS Policy `{mtls.policy.name}` is ignored for host {host} "
                    "because TLS is not enabled for that host (F5 NGINX Ingress Controller "
                    "logs a warning only)", host))
            for path in rule.seq("http", "paths"):
                node = path.get("path") or path
                body.append(self.location(node.value if isinstance(node.value, str) else "/",
                                          file, node.at))
            servers.append(stmt("server", [], file, host_node.at, body))
        return servers
