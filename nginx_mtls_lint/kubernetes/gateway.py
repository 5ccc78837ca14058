"""Gateway API (gateway-api 4564255a) as NGINX Gateway Fabric (NGF e55bfe33) renders it.

Followed: `apis/v1/gateway_types.go` (spec.tls.frontend: `default` and `perPort` validation,
mode AllowValidOnly by default or AllowInsecureFallback), NGF `servers_template.go` and
`dataplane/configuration.go` `addClientSettingsToSSLServers`: AllowValidOnly ->
`ssl_client_certificate <bundle>; ssl_verify_client on; ssl_verify_depth 4; error_page 495 496
= @frontend_tls_verify_failed;` with `return 444` there; AllowInsecureFallback ->
`ssl_verify_client optional_no_ca;` and no CA at all. Listeners of another class are judged by
the Gateway API's own words, which NGF's rendering follows: AllowInsecureFallback "will accept
connections even if the client certificate is not presented or fails verification". An
HTTPRoute without `sectionName` attaches to every listener of its Gateway, the HTTP ones too.
Backends are a stub `proxy_pass http://backend;`.
"""

from __future__ import annotations

from ..parser import Stmt
from .ingress_nginx import Fact
from .objects import Manifests, Obj
from .render import FileStore, backend, stmt
from .yamlnodes import Node

RELEASE = "NGINX Gateway Fabric (e55bfe33)"
NGINX_VERSION = "1.29.1"
SECRETS = "/etc/nginx/secrets"


class Renderer:
    def __init__(self, manifests: Manifests, gateways: list[Obj], store: FileStore):
        self.manifests = manifests
        self.gateways = gateways
        self.store = store
        self.facts: list[Fact] = []
        self.anchor = (gateways[0].file, gateways[0].node.at)

    def render(self) -> list[Stmt]:
        http: list[Stmt] = []
        ports: set[tuple[str, bool]] = set()
        for gateway in self.gateways:
            for listener in gateway.node.seq("spec", "listeners"):
                protocol = listener.text("protocol") or "HTTP"
                if protocol not in ("HTTP", "HTTPS"):
                    continue
                port = listener.text("port") or ("443" if protocol == "HTTPS" else "80")
                ports.add((port, protocol == "HTTPS"))
                http += self.servers(gateway, listener, port, protocol == "HTTPS")
        http = [backend(self.anchor)] + [self.default_server(port, tls)
                                         for port, tls in sorted(ports)] + http
        return [stmt("events", [], *self.anchor, []), stmt("http", [], *self.anchor, http)]

    def default_server(self, port: str, tls: bool) -> Stmt:
        at = self.anchor
        if tls:
            return stmt("server", [], *at, [
                stmt("listen", [port, "ssl", "default_server"], *at),
                stmt("ssl_reject_handshake", ["on"], *at)])
        return stmt("server", [], *at, [stmt("listen", [port, "default_server"], *at),
                                        stmt("return", ["404"], *at)])

    def routes(self, gateway: Obj, listener: Node) -> list[tuple[Obj, Node]]:
        """(HTTPRoute, its parentRef) attached to this listener."""
        name = listener.text("name")
        out = []
        for route in self.manifests.of_kind("HTTPRoute"):
            for ref in route.node.seq("spec", "parentRefs"):
                ns = ref.text("namespace") or route.namespace
                if ref.text("name") != gateway.name or (
                        ns and gateway.namespace and ns != gateway.namespace):
                    continue
                section = ref.text("sectionName")
                if section is None or section == name:
                    out.append((route, ref))
        return out

    def validation(self, gateway: Obj, port: str) -> Node | None:
        for entry in gateway.node.seq("spec", "tls", "frontend", "perPort"):
            if entry.text("port") == port:
                return entry.get("tls", "validation")
        return gateway.node.get("spec", "tls", "frontend", "default", "validation")

    def client_auth(self, gateway: Obj, validation: Node, port: str, host: str) -> list[Stmt]:
        file = gateway.file
        mode_node = validation.get("mode")
        mode = mode_node.value if mode_node is not None and isinstance(mode_node.value, str) \
            else "AllowValidOnly"
        mode_line = (mode_node or validation).at
        if mode == "AllowInsecureFallback":
            self.facts.append(Fact(
                "fallback", file, mode_line,
                f"`mode: AllowInsecureFallback` accepts connections to {host}:{port} whether "
                "or not the client certificate is presented or valid (NGINX Gateway Fabric "
                "renders `ssl_verify_client optional_no_ca;` and no CA)", host))
            return [stmt("ssl_verify_client", ["optional_no_ca"], file, mode_line)]
        refs = validation.seq("caCertificateRefs")
        ref_line = refs[0].at if refs else validation.at
        path = f"{SECRETS}/cert_bundle_{gateway.namespace or 'default'}_{gateway.name}_{port}.crt"
        data = b""
        for ref in refs:
            kind = ref.text("kind") or "ConfigMap"
            found = self.manifests.find(kind, ref.text("namespace") or gateway.namespace,
                                        ref.text("name") or "")
            chunk = found.data("ca.crt")[0] if found is not None else None
            if chunk is None:
                data = b""
                break
            data += chunk
        if data:
            self.store.add(path, data)
        else:
            self.store.absent.add(path)
        return [stmt("ssl_client_certificate", [path], file, ref_line),
                stmt("ssl_verify_client", ["on"], file, mode_line),
                stmt("ssl_verify_depth", ["4"], file, mode_line),
                stmt("error_page", ["495", "496", "=", "@frontend_tls_verify_failed"], file,
                     mode_line),
                stmt("location", ["@frontend_tls_verify_failed"], file, mode_line,
                     [stmt("return", ["444"], file, mode_line)])]

    def servers(self, gateway: Obj, listener: Node, port: str, tls: bool) -> list[Stmt]:
        file = gateway.file
        attached = self.routes(gateway, listener)
        listener_host = listener.text("hostname")
        hosts: list[tuple[str, Obj, Node]] = []
        for route, ref in attached:
            written = [h.value for h in route.node.seq("spec", "hostnames")
                       if isinstance(h.value, str)]
            # a route's hostnames intersect its listener's (gateway_types.go Hostname)
            names = [h for h in written if listener_host is None or _overlap(h, listener_host)]
            if written and not names:
                continue
            hosts += [(name, route, ref) for name in names or [listener_host or "~^"]]
        out = []
        validation = self.validation(gateway, port) if tls else None
        for host, route, ref in hosts:
            listen_at = (route.file, ref.at) if not tls and ref.get("sectionName") is None \
                else (file, listener.at)
            body = [stmt("listen", [port, *(["ssl"] if tls else [])], *listen_at),
                    stmt("server_name", [host], file, listener.at)]
            if tls:
                body += [stmt("ssl_certificate", [f"{SECRETS}/default"], file, listener.at),
                         stmt("ssl_certificate_key", [f"{SECRETS}/default"], file, listener.at)]
                if validation is not None:
                    body += self.client_auth(gateway, validation, port, host)
            body += self.locations(route)
            out.append(stmt("server", [], *(listen_at if not tls else (file, listener.at)),
                            body))
        return out

    @staticmethod
    def locations(route: Obj | None) -> list[Stmt]:
        if route is None:
            return []
        out: list[Stmt] = []
        seen = set()
        for rule in route.node.seq("spec", "rules"):
            matches = rule.seq("matches") or [rule]
            for match in matches:
                path = match.text("path", "value") or "/"
                exact = match.text("path", "type") == "Exact"
                args = ["=", path] if exact else [path]
                if tuple(args) in seen:
                    continue
                seen.add(tuple(args))
                line = (match.get("path") or rule).at
                out.append(stmt("location", args, route.file, line,
                                [stmt("proxy_pass", ["http://backend"], route.file, line)]))
        if ("/",) not in seen:
            at = (route.file, route.node.at)
            out.append(stmt("location", ["/"], *at, [stmt("return", ["404"], *at)]))
        return out


def _overlap(route_host: str, listener_host: str) -> bool:
    def fits(name: str, pattern: str) -> bool:
        return name == pattern or pattern.startswith("*.") and name.endswith(pattern[1:])
    return fits(route_host, listener_host) or fits(listener_host, route_host)
