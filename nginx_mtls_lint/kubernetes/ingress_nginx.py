"""ingress-nginx (kubernetes/ingress-nginx, controller-v1.15.1, commit dbb11b92): what its
`nginx.tmpl` writes for the Ingresses, Secrets and ConfigMap given, client verification first.

Followed: `internal/ingress/annotations/authtls/main.go` (annotation parsing and defaults),
`internal/ingress/controller/controller.go` `getBackendServers` (the first Ingress whose Secret
yields a CA sets mTLS for the whole host), `rootfs/etc/nginx/template/nginx.tmpl` `define
"SERVER"` and the location template. Lua-only parts are stubs that keep what decides a verdict
(each keeps only what decides a verdict): `ssl_certificate_by_lua` -> the default fake certificate;
`lua_ingress.rewrite`'s `redirect_to_https` -> `if ($pass_access_scheme = http) { return 308
...; }` where it would redirect; the balancer -> `proxy_pass http://upstream_balancer;`; the
default backend -> `return 404;`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..parser import Stmt
from .objects import Manifests, Obj
from .render import FileStore, Origin, snippet, stmt
from .yamlnodes import Node

PREFIX = "nginx.ingress.kubernetes.io/"
CONTROLLER = "k8s.io/ingress-nginx"
RELEASE = "ingress-nginx controller-v1.15.1"
NGINX_VERSION = "1.27.1"
# images/nginx/rootfs/patches/28_nginx-1.27.1-CVE-2025-23419.patch, since controller-v1.13.0
PATCHED = ("CVE-2025-23419",)
SSL_DIR = "/etc/ingress-controller/ssl"
FAKE_CERT = f"{SSL_DIR}/default-fake-certificate.pem"
CLOUDFLARE_PROXIED = "external-dns.alpha.kubernetes.io/cloudflare-proxied"
VERIFY = re.compile(r"^(on|off|optional|optional_no_ca)$")
STRENGTH = {"off": 0, "optional_no_ca": 1, "optional": 2, "on": 3}
# ConfigMap keys read here, with the controller's defaults (config/config.go).
DEFAULTS = {"use-forwarded-headers": "false", "forwarded-for-header": "X-Forwarded-For",
            "proxy-real-ip-cidr": "0.0.0.0/0", "use-proxy-protocol": "false",
            "ssl-reject-handshake": "false", "ssl-session-tickets": "false",
            "ssl-session-cache": "true", "ssl-session-cache-size": "10m",
            "ssl-redirect": "true", "force-ssl-redirect": "false",
            "allow-snippet-annotations": "false", "http-redirect-code": "308"}


def true(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1", "t", "yes", "y", "on")


@dataclass(slots=True)
class Settings:
    """The controller's ConfigMap (its `data`), where given."""

    configmap: Obj | None
    nodes: dict[str, Node] = field(default_factory=dict)

    def get(self, key: str) -> str:
        node = self.nodes.get(key)
        return node.value if node is not None and isinstance(node.value, str) else DEFAULTS[key]

    def at(self, key: str, fallback: tuple[str, int]) -> tuple[str, int]:
        node = self.nodes.get(key)
        if self.configmap is None:
            return fallback
        if node is None:  # the ConfigMap leaves the default: its `data:` is where to add it
            node = self.configmap.node.get("data") or self.configmap.node
        return self.configmap.file, node.at


@dataclass(slots=True)
class AuthTLS:
    """One Ingress's `auth-tls-*` annotations as authtls.Parse reads them."""

    ingress: Obj
    annotations: dict[str, Node]
    secret: Obj | None = None
    ca: bytes | None = None
    crl: tuple[bytes, Node] | None = None
    state: str = "none"  # none | ca | no-ca | not-here | error
    error: str | None = None
    verify: str = "on"
    depth: str = "1"

    def node(self, name: str) -> Node | None:
        return self.annotations.get(PREFIX + name)

    def value(self, name: str) -> str | None:
        node = self.node(name)
        return node.value if node is not None and isinstance(node.value, str) else None

    def line(self, *names: str) -> int:
        for name in names:
            node = self.node(name)
            if node is not None:
                return node.at
        return self.ingress.node.at

    @property
    def key(self) -> tuple[object, ...]:
        return (self.secret.ref if self.secret else self.value("auth-tls-secret"), self.verify,
                self.depth, self.value("auth-tls-error-page"), self.value("auth-tls-match-cn"))

    @property
    def strength(self) -> float:
        return STRENGTH[self.verify] - (0.5 if self.value("auth-tls-error-page") else 0)


def parse_auth_tls(ingress: Obj, manifests: Manifests) -> AuthTLS:
    auth = AuthTLS(ingress, {k: v for k, v in ingress.annotations().items()
                             if k.startswith(PREFIX + "auth-tls-")})
    ref = auth.value("auth-tls-secret")
    if not ref:
        return auth
    parts = ref.split("/")
    if len(parts) != 2 or not all(parts):
        auth.state, auth.error = "error", f"invalid format (namespace/name) found in '{ref}'"
        return auth
    namespace, name = parts
    if ingress.namespace is not None and namespace != ingress.namespace:
        auth.state, auth.error = "error", "cross namespace secrets are not supported"
        return auth
    raw = auth.value("auth-tls-verify-client")
    auth.verify = raw if raw is not None and VERIFY.match(raw) else "on"
    depth = auth.value("auth-tls-verify-depth") or ""
    auth.depth = depth if depth.isdigit() and int(depth) > 0 else "1"
    auth.secret = manifests.find("Secret", namespace, name)
    if auth.secret is None:
        auth.state = "not-here"
        return auth
    ca, _ = auth.secret.data("ca.crt")
    crl, crl_node = auth.secret.data("ca.crl")
    if crl is not None and crl_node is not None:
        auth.crl = (crl, crl_node)
    if auth.secret.has_key("ca.crt"):
        auth.state, auth.ca = "ca", ca or b""
    elif auth.secret.has_key("tls.crt"):
        auth.state = "no-ca"
    else:
        auth.state, auth.error = "error", f"secret {ref} holds neither a certificate nor ca.crt"
    return auth


@dataclass(slots=True)
class Host:
    """Every Ingress rule of one host (`_`: rules without a host, on the default server)."""

    name: str
    line: tuple[str, int]  # the first `host:` written for it
    rules: list[tuple[Obj, Node]] = field(default_factory=list)  # (Ingress, rule node)
    tls: tuple[str, int] | None = None  # the `tls: hosts:` entry naming it
    auths: list[AuthTLS] = field(default_factory=list)

    @property
    def candidates(self) -> list[AuthTLS]:
        """The Ingresses whose Secret yields (or may yield) a CA: one of them, the oldest,
        sets mTLS for the host."""
        return [a for a in self.auths if a.state in ("ca", "not-here")]

    def chosen(self) -> AuthTLS | None:
        """The order is not in a repository: the weakest candidate stands for every order."""
        candidates = self.candidates
        if candidates:
            return min(candidates, key=lambda a: a.strength)
        errors = [a for a in self.auths if a.state == "error"]
        return errors[0] if errors else None


def hosts_of(ingresses: list[Obj], manifests: Manifests) -> dict[str, Host]:
    hosts: dict[str, Host] = {}
    for ingress in ingresses:
        auth = parse_auth_tls(ingress, manifests)
        tls_hosts = {h.value: (ingress.file, h.line) for entry in ingress.node.seq("spec", "tls")
                     for h in entry.seq("hosts") if isinstance(h.value, str)}
        for rule in ingress.node.seq("spec", "rules"):
            name = rule.text("host") or "_"
            where = rule.get("host") or rule
            host = hosts.setdefault(name, Host(name, (ingress.file, where.at)))
            host.rules.append((ingress, rule))
            if name in tls_hosts and host.tls is None:
                host.tls = tls_hosts[name]
            if auth not in host.auths:
                host.auths.append(auth)
    return hosts


class Renderer:
    """One ingress-nginx instance's configuration for the Ingresses it owns."""

    def __init__(self, manifests: Manifests, ingresses: list[Obj], configmap: Obj | None,
                 store: FileStore):
        self.manifests = manifests
        self.ingresses = ingresses
        self.store = store
        self.settings = Settings(configmap, dict(configmap.node.items("data")) if configmap
                                 else {})
        self.origins: dict[tuple[str, int], Origin] = {}
        self.notes: list[tuple[str, int, str]] = []  # (file, line, message)
        first = ingresses[0]
        klass = first.node.get("spec", "ingressClassName")
        self.anchor = (first.file, (klass or first.node).at)
        self.hosts = hosts_of(ingresses, manifests)
        self.facts = facts(self.hosts)

    # ------------------------------------------------------------------ helpers
    def cfg(self, key: str) -> str:
        return self.settings.get(key)

    def at_cfg(self, key: str, name: str, args: list[str], block: list[Stmt] | None = None,
               fallback: tuple[str, int] | None = None) -> Stmt:
        file, line = self.settings.at(key, fallback or self.anchor)
        return stmt(name, args, file, line, block)

    def origin(self, file: str, line: int, text: str, fix: str | None = None) -> None:
        self.origins.setdefault((file, line), Origin(file, line, text, fix))

    # ------------------------------------------------------------------ http {}
    def render(self) -> list[Stmt]:
        http: list[Stmt] = []
        if true(self.cfg("ssl-session-cache")):
            size = self.cfg("ssl-session-cache-size")
            http.append(self.at_cfg("ssl-session-cache", "ssl_session_cache",
                                    [f"shared:SSL:{size}"]))
        http.append(self.at_cfg("ssl-session-tickets", "ssl_session_tickets",
                                ["on" if true(self.cfg("ssl-session-tickets")) else "off"]))
        http += self.real_ip()
        http.append(stmt("upstream", ["upstream_balancer"], *self.anchor,
                         [stmt("server", ["127.0.0.1:8181"], *self.anchor)]))
        if true(self.cfg("use-forwarded-headers")):
            # lua_ingress.rewrite: pass_access_scheme = X-Forwarded-Proto when sent
            http.append(self.at_cfg("use-forwarded-headers", "map",
                                    ["$http_x_forwarded_proto", "$forwarded_scheme"], [
                                        self.at_cfg("use-forwarded-headers", "default",
                                                    ["$http_x_forwarded_proto"]),
                                        self.at_cfg("use-forwarded-headers", "", ["$scheme"])]))
        http.append(self.default_server())
        for host in self.hosts.values():
            if host.name != "_":
                http.append(self.server(host))
        events = stmt("events", [], *self.anchor, [])
        return [events, stmt("http", [], *self.anchor, http)]

    def real_ip(self) -> list[Stmt]:
        out = []
        if true(self.cfg("use-proxy-protocol")):
            out.append(self.at_cfg("use-proxy-protocol", "real_ip_header", ["proxy_protocol"]))
        elif true(self.cfg("use-forwarded-headers")):
            out.append(self.at_cfg("forwarded-for-header", "real_ip_header",
                                   [self.cfg("forwarded-for-header")],
                                   fallback=self.settings.at("use-forwarded-headers",
                                                             self.anchor)))
        else:
            return out
        for cidr in self.cfg("proxy-real-ip-cidr").split(","):
            if cidr.strip():
                out.append(self.at_cfg("proxy-real-ip-cidr", "set_real_ip_from", [cidr.strip()],
                                       fallback=self.settings.at("use-forwarded-headers",
                                                                 self.anchor)))
        out.append(self.at_cfg("use-forwarded-headers", "real_ip_recursive", ["on"]))
        return out

    def listens(self, http_at: tuple[str, int], https_at: tuple[str, int],
                default: bool) -> list[Stmt]:
        proxy = ["proxy_protocol"] if true(self.cfg("use-proxy-protocol")) else []
        extra = ["default_server"] if default else []
        return [stmt("listen", ["80", *extra, *proxy], *http_at),
                stmt("listen", ["443", *extra, *proxy, "ssl"], *https_at)]

    def certificate(self, at: tuple[str, int]) -> list[Stmt]:
        # ssl_certificate_by_lua_block picks the Secret's certificate or the fake one; which
        # certificate is served never decides a client-verification verdict.
        return [stmt("ssl_certificate", [FAKE_CERT], *at),
                stmt("ssl_certificate_key", [FAKE_CERT], *at)]

    def default_server(self) -> Stmt:
        at = self.settings.at("ssl-reject-handshake", self.anchor)
        body = [stmt("server_name", ["_"], *self.anchor),
                *self.listens(self.anchor, at, True), *self.certificate(self.anchor),
                stmt("ssl_reject_handshake",
                     ["on" if true(self.cfg("ssl-reject-handshake")) else "off"], *at)]
        unnamed = self.hosts.get("_")
        if unnamed is not None:
            body += self.locations(unnamed, None)
        else:
            body.append(stmt("location", ["/"], *self.anchor,
                             [stmt("return", ["404"], *self.anchor)]))
        return stmt("server", [], *self.anchor, body)

    # ------------------------------------------------------------------ server {}
    def server(self, host: Host) -> Stmt:
        auth = host.chosen()
        verified = auth is not None and auth.state in ("ca", "not-here")
        server_at = host.line
        if not verified:
            intent = next((a for a in host.auths if a.annotations), None)
            if intent is not None:  # nothing rendered: MTLS001 lands on the annotation
                server_at = (intent.ingress.file, intent.line("auth-tls-secret",
                                                              "auth-tls-verify-client"))
        https_at = host.tls or host.line
        body = [*self.cloudflare_marks(host),
                stmt("server_name", [host.name], *server_at),
                *self.listens(self.http_line(host), https_at, False),
                stmt("set", ["$proxy_upstream_name", "-"], *host.line),
                *self.certificate(https_at)]
        if auth is not None:
            body += self.client_auth(host, auth)
        body += self.server_snippets(host)
        body += self.locations(host, auth)
        return stmt("server", [], *server_at, body)

    @staticmethod
    def cloudflare_marks(host: Host) -> list[Stmt]:
        """external-dns's `cloudflare-proxied: "true"` puts the host behind Cloudflare: the
        linter's own annotation says so to the analysis."""
        out: list[Stmt] = []
        for ingress, _ in host.rules:
            node = ingress.annotations().get(CLOUDFLARE_PROXIED)
            if node is not None and true(_text(node)) and not out:
                out.append(stmt("#", [" nginx-mtls-lint: cloudflare"], ingress.file, node.at))
        return out

    def http_line(self, host: Host) -> tuple[str, int]:
        """What makes port 80 of this server answer: `ssl-redirect: "false"`, the ConfigMap's
        use-forwarded-headers, or the host missing from `tls:`."""
        for ingress, _ in host.rules:
            for key in ("ssl-redirect", "force-ssl-redirect"):
                node = ingress.annotations().get(PREFIX + key)
                if node is not None:
                    return ingress.file, node.at
        if true(self.cfg("use-forwarded-headers")):
            return self.settings.at("use-forwarded-headers", host.line)
        return host.line

    def client_auth(self, host: Host, auth: AuthTLS) -> list[Stmt]:
        file = auth.ingress.file
        if auth.state == "error":
            line = auth.line("auth-tls-secret")
            return [stmt("#", [f" {auth.error}"], file, line), stmt("return", ["403"], file, line)]
        out = []
        match_cn = auth.node("auth-tls-match-cn")
        if match_cn is not None and isinstance(match_cn.value, str) and \
                match_cn.value.startswith("CN="):
            out.append(stmt("if", ["$ssl_client_s_dn", "!~", match_cn.value], file, match_cn.at,
                            [stmt("return", ["403", "client certificate unauthorized"], file,
                                  match_cn.at)]))
        assert auth.secret is not None or auth.state == "not-here"
        ref = auth.value("auth-tls-secret") or ""
        namespace, name = ref.split("/")
        ca_path = f"{SSL_DIR}/ca-{namespace}-{name}.pem"
        if auth.state == "ca" and auth.ca is not None:
            self.store.add(ca_path, auth.ca)
        else:
            self.store.absent.add(ca_path)
        secret_line = auth.line("auth-tls-secret")
        out += [stmt("ssl_client_certificate", [ca_path], file, secret_line),
                stmt("ssl_verify_client", [auth.verify], file,
                     auth.line("auth-tls-verify-client", "auth-tls-secret")),
                stmt("ssl_verify_depth", [auth.depth], file,
                     auth.line("auth-tls-verify-depth", "auth-tls-secret"))]
        if auth.crl is not None and auth.secret is not None:
            crl_path = f"{SSL_DIR}/crl-{namespace}-{name}.pem"
            self.store.add(crl_path, auth.crl[0])
            out.append(stmt("ssl_crl", [crl_path], auth.secret.file, auth.crl[1].at))
        page = auth.node("auth-tls-error-page")
        if page is not None and isinstance(page.value, str) and page.value:
            out.append(stmt("error_page", ["495", "496", "=", page.value], file, page.at))
        return out

    def snippets_allowed(self) -> bool:
        return self.settings.configmap is None or true(self.cfg("allow-snippet-annotations"))

    def server_snippets(self, host: Host) -> list[Stmt]:
        out: list[Stmt] = []
        seen = set()
        for ingress, _ in host.rules:
            node = ingress.annotations().get(PREFIX + "server-snippet")
            if node is None or id(ingress) in seen or not isinstance(node.value, str):
                continue
            seen.add(id(ingress))
            out += self.snippet(node, ingress)
        return out

    def snippet(self, node: Node, ingress: Obj) -> list[Stmt]:
        if not self.snippets_allowed():
            self.notes.append((ingress.file, node.at, "snippet annotations are off in the "
                               "controller's ConfigMap (allow-snippet-annotations): not rendered"))
            return []
        stmts, errors = snippet(str(node.value), node, ingress.file)
        for error in errors:
            self.notes.append((ingress.file, node.at, f"snippet: {error}"))
        return stmts

    # ------------------------------------------------------------------ location {}
    def locations(self, host: Host, auth: AuthTLS | None) -> list[Stmt]:
        out: list[Stmt] = []
        seen: set[tuple[str, ...]] = set()
        for ingress, rule in host.rules:
            annotations = ingress.annotations()
            for path in rule.seq("http", "paths"):
                for args in self.location_args(path, annotations):
                    if tuple(args) in seen:
                        continue  # the first Ingress with a path wins it
                    seen.add(tuple(args))
                    node = path.get("path") or path
                    out.append(stmt("location", args, ingress.file, node.at,
                                    self.location_body(host, auth, ingress, node.at)))
        if ("/",) not in seen:
            out.append(stmt("location", ["/"], *host.line,
                            [stmt("return", ["404"], *host.line)]))  # the default backend
        return out

    @staticmethod
    def location_args(path: Node, annotations: dict[str, Node]) -> list[list[str]]:
        value = path.text("path") or "/"
        kind = path.text("pathType") or "ImplementationSpecific"
        if true(_text(annotations.get(PREFIX + "use-regex"))) or \
                annotations.get(PREFIX + "rewrite-target") is not None and "(" in value:
            return [["~*", f"^{value}"]]
        if kind == "Exact":
            return [["=", value]]
        if kind == "Prefix" and not value.endswith("/"):
            return [[f"{value}/"], ["=", value]]
        return [[value]]

    def location_body(self, host: Host, auth: AuthTLS | None, ingress: Obj,
                      line: int) -> list[Stmt]:
        file = ingress.file
        annotations = ingress.annotations()
        forwarded = true(self.cfg("use-forwarded-headers"))
        body = [stmt("set", ["$pass_access_scheme", "$forwarded_scheme" if forwarded
                             else "$scheme"], file, line)]
        if self.redirects(host, annotations):
            code = self.cfg("http-redirect-code")
            at = self.http_line(host)
            body.append(stmt("if", ["$pass_access_scheme", "=", "http"], *at,
                             [stmt("return", [code, "https://$host$request_uri"], *at)]))
        whitelist = annotations.get(PREFIX + "whitelist-source-range") or \
            annotations.get(PREFIX + "allowlist-source-range")
        if whitelist is not None and isinstance(whitelist.value, str):
            body += [stmt("allow", [c.strip()], file, whitelist.at)
                     for c in whitelist.value.split(",") if c.strip()]
            body.append(stmt("deny", ["all"], file, whitelist.at))
        snippet_node = annotations.get(PREFIX + "configuration-snippet")
        if snippet_node is not None and isinstance(snippet_node.value, str):
            body += self.snippet(snippet_node, ingress)
        if auth is not None and auth.state in ("ca", "not-here"):
            at = (auth.ingress.file, auth.line("auth-tls-pass-certificate-to-upstream",
                                               "auth-tls-secret"))
            if true(auth.value("auth-tls-pass-certificate-to-upstream")):
                body.append(stmt("proxy_set_header", ["ssl-client-cert",
                                                      "$ssl_client_escaped_cert"], *at))
            body += [stmt("proxy_set_header", ["ssl-client-verify", "$ssl_client_verify"], *at),
                     stmt("proxy_set_header", ["ssl-client-subject-dn", "$ssl_client_s_dn"],
                          *at),
                     stmt("proxy_set_header", ["ssl-client-issuer-dn", "$ssl_client_i_dn"],
                          *at)]
        body.append(stmt("proxy_pass", ["http://upstream_balancer"], file, line))
        return body

    def redirects(self, host: Host, annotations: dict[str, Node]) -> bool:
        """lua_ingress.lua redirect_to_https: force-ssl-redirect, else ssl-redirect when the
        host has a certificate (`certificate_configured_for_current_request`)."""
        force = _text(annotations.get(PREFIX + "force-ssl-redirect"))
        if true(force if force is not None else self.cfg("force-ssl-redirect")):
            return True
        ssl = _text(annotations.get(PREFIX + "ssl-redirect"))
        return true(ssl if ssl is not None else self.cfg("ssl-redirect")) and host.tls is not None


def _text(node: Node | None) -> str | None:
    return node.value if node is not None and isinstance(node.value, str) else None


@dataclass(slots=True)
class Fact:
    """Something the manifests decide that the rendered nginx cannot show by itself."""

    kind: str  # scope | no-ca | no-secret | invalid-verify | not-here
    file: str
    line: int
    message: str
    host: str
    related: list[tuple[str, int, str]] = field(default_factory=list)


def describe(auth: AuthTLS) -> str:
    parts = [f"`{auth.ingress.ref}` (auth-tls-verify-client: {auth.verify}"]
    if auth.value("auth-tls-error-page"):
        parts.append(f", auth-tls-error-page: {auth.value('auth-tls-error-page')}")
    return "".join(parts) + ")"


def facts(hosts: dict[str, Host]) -> list[Fact]:
    """Host-wide scope (the oldest Ingress with a CA wins) and declared verification that
    renders nothing, as ingress-nginx decides them."""
    out: list[Fact] = []
    for host in hosts.values():
        chosen = host.chosen()
        candidates = host.candidates
        keys = {a.key for a in candidates}
        for auth in host.auths:
            if not auth.annotations:
                continue
            file, line = auth.ingress.file, auth.line("auth-tls-secret", "auth-tls-verify-client")
            raw = auth.value("auth-tls-verify-client")
            if raw is not None and not VERIFY.match(raw) and auth.value("auth-tls-secret"):
                out.append(Fact("invalid-verify", file, auth.line("auth-tls-verify-client"),
                                f"`auth-tls-verify-client: {raw}` is not one of on, off, "
                                "optional, optional_no_ca: ingress-nginx silently uses `on`",
                                host.name))
            if auth in candidates and len(keys) > 1 and auth is not chosen and chosen:
                others = [a for a in candidates if a is not auth]
                out.append(Fact(
                    "scope", file, line,
                    f"host {host.name} takes the auth-tls-* annotations of the oldest Ingress "
                    f"whose Secret yields a CA, for every path of every Ingress of the host: "
                    f"here that is {describe(auth)} or "
                    + " or ".join(describe(a) for a in others) + ", by creation time, which a "
                    f"repository does not hold. Where {chosen.ingress.ref} is older, this "
                    f"Ingress's auth-tls-* annotations are ignored and its paths get "
                    f"auth-tls-verify-client: {chosen.verify}", host.name,
                    [(a.ingress.file, a.line("auth-tls-secret"), f"{a.ingress.ref}'s auth-tls-*")
                     for a in others]))
            if candidates:
                continue
            if auth.state == "none":
                out.append(Fact("no-secret", file, line,
                                f"`auth-tls-*` annotations without `auth-tls-secret`: ingress-"
                                f"nginx renders no client verification for {host.name}",
                                host.name))
            elif auth.state == "no-ca":
                out.append(Fact("no-ca", file, line,
                                f"Secret `{auth.value('auth-tls-secret')}` has no `ca.crt` key: "
                                "ingress-nginx renders no client verification for "
                                f"{host.name} (it logs \"mutual authentication disabled\" at "
                                "verbosity 3 only)", host.name,
                                [(auth.secret.file, auth.secret.node.at, "the Secret")]
                                if auth.secret else []))
    return out
