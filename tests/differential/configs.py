"""Seeded nginx configurations over what decides who gets content.

`generate(seed)` always gives the same configuration for the same seed. Every configuration
is one site, app.example.com, whose content is the application on 127.0.0.1:3000 (or 3001)
and the files under /var/www/app; the client certificate it means to demand is
/etc/nginx/certs/client-ca.pem's (the labelling PKI of tests/test_flow_labels.py). Around the
protected server the generator puts what real configurations put there: a default server on
the same socket, a plain-HTTP server, a TLS twin on another port, a loopback tunnel listener,
a stream {} server; and inside it listen parameters, server_name forms, locations of every
form (nested, named, internal, limit_except), rewrite-module directives, map / geo /
split_clients, realip, access and auth_request, error_page, try_files / root / alias / index,
ssl_* settings. Each choice is recorded as a construct name, so that the report can count
disagreements per construct and the fixed-seed slice can prove it covers every construct.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

SITE = "app.example.com"
CERTS = "/etc/nginx/certs"
APP, APP2 = "http://127.0.0.1:3000", "http://127.0.0.1:3001"
# A pin the labelling run replaces by the valid client's fingerprint (test_flow_labels.prepare).
PIN = "5e2a9c0f3b7d41e6a8c2f09d7b3e5a1c4f6d8b20"
CLOUDFLARE_RANGES = ("173.245.48.0/20", "103.21.244.0/22", "2400:cb00::/32")


@dataclass
class Generated:
    """One configuration and what the request generator needs to know about it."""

    seed: int
    text: str  # the whole nginx.conf (events {}, http {}, maybe stream {})
    constructs: list[str]
    tls_ports: list[int] = field(default_factory=list)
    plain_ports: list[int] = field(default_factory=list)
    proxy_protocol_ports: list[int] = field(default_factory=list)
    h2_ports: list[int] = field(default_factory=list)
    loopback_ports: list[int] = field(default_factory=list)
    stream_ports: list[int] = field(default_factory=list)
    hosts: list[str] = field(default_factory=lambda: [SITE])
    uris: list[str] = field(default_factory=lambda: ["/"])
    other_names: list[str] = field(default_factory=list)  # names of other servers, for SNI
    tunnel: bool = False  # the valid client is cloudflared on this host (plain, loopback)


class Builder:
    """Collects the constructs chosen while the text is written."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.seed = seed
        self.constructs: list[str] = []
        self.maps: list[str] = []  # http-level blocks (map, geo, split_clients)
        self.uris: list[str] = ["/"]
        self.gen = Generated(seed, "", self.constructs)

    def pick(self, kind: str, options: dict[str, object]) -> str:
        """One option of `kind`, weighted when the values are numbers; recorded."""
        names = list(options)
        weights = [float(w) if isinstance(w, (int, float)) else 1.0 for w in options.values()]
        name = self.rng.choices(names, weights)[0]
        self.constructs.append(f"{kind}:{name}")
        return name

    def chance(self, kind: str, probability: float) -> bool:
        if self.rng.random() < probability:
            self.constructs.append(kind)
            return True
        return False


# --------------------------------------------------------------------------- the protected server

VERIFY_DEPTH = {"absent": 5, "0": 1, "1": 1, "2": 1}
SSL_PROTOCOLS = {"absent": 3, "TLSv1.2": 1, "TLSv1.2 TLSv1.3": 2, "TLSv1.3": 1}
SERVER_ROOTS = {"none": 3, "app": 3, "stock": 1}
MAP_FLAGS = {"plain": 2, "hostnames": 1, "volatile": 1}
GEO_SOURCES = {"remote_addr": 2, "realip_remote_addr": 1}
TWINS = {"none": 5, "verifying": 1, "unverified": 1, "tunnel-loopback": 1, "tunnel-every-address": 1}
STREAMS = {"none": 6, "verify-on": 1, "verify-optional": 1, "ca-without-verify": 1, "map-target": 1}
# (what b.chance records: a construct on its own)
CHANCES = ("rewrite-before-check", "listen:default_server", "listen:http2",
           "listen:proxy_protocol", "listen:ipv6", "listen:plain-in-same-server",
           "ssl_session_tickets-off", "ssl_session_cache", "index", "location-check-partial")

SERVER_NAMES = {"exact": f"server_name {SITE};", "two": f"server_name {SITE} www.example.com;",
                "wildcard": "server_name *.example.com;", "dot": "server_name .example.com;",
                "regex": "server_name ~^app\\.example\\.com$;",
                "regex-capture": "server_name ~^(?<sub>\\w+)\\.example\\.com$;",
                "upper": "server_name APP.Example.com;"}
VERIFY = {"on": 5, "optional": 3, "optional_no_ca": 2, "absent": 1}
CA_FILE = {"client-ca": 6, "other-ca": 1, "trusted-only": 1, "both": 1}
CHECKS = {"none": 2, "server-if": 4, "location-if": 2, "map-chain": 1, "set-flag": 1,
          "s-dn": 1, "i-dn": 1, "fingerprint": 1, "cert-empty": 1, "auth-request": 1,
          "app-header": 1, "sni-guard": 1}
ANSWERS = {"403": 4, "444": 1, "301": 1, "200-text": 1, "error-page-named": 1,
           "error-page-uri": 1, "rewrite-denied": 1}


def protected_server(b: Builder) -> str:
    """The server that demands the certificate (or means to)."""
    lines = [listen_lines(b), SERVER_NAMES[b.pick("server_name", SERVER_NAMES)],
             f"ssl_certificate {CERTS}/server.pem;", f"ssl_certificate_key {CERTS}/server.key;"]
    lines += ca_lines(b) + ssl_setting_lines(b) + realip_lines(b)
    verify = b.pick("verify", VERIFY)
    if verify != "absent":
        lines.append(f"ssl_verify_client {verify};")
    check = b.pick("check", CHECKS)
    answer = b.pick("answer", ANSWERS)
    before, server_check, location_check = check_lines(b, check, answer)
    lines += before
    if b.chance("rewrite-before-check", 0.1):
        lines.append("rewrite ^/old/(.*)$ /$1 last;")
        b.uris += ["/old/page.html", "/old/api/x"]
    lines += server_check + access_lines(b) + root_lines(b)
    lines += locations(b, location_check)
    return block("server", lines)


def listen_lines(b: Builder) -> str:
    params = ["ssl"]
    if b.chance("listen:default_server", 0.2):
        params.append("default_server")
    if b.chance("listen:http2", 0.25):
        params.append("http2")
        b.gen.h2_ports.append(443)
    if b.chance("listen:proxy_protocol", 0.1):
        params.append("proxy_protocol")
        b.gen.proxy_protocol_ports.append(443)
    b.gen.tls_ports.append(443)
    text = f"listen 443 {' '.join(params)};"
    if b.chance("listen:ipv6", 0.15):
        text += f"\nlisten [::]:443 {' '.join(p for p in params if p != 'default_server')};"
    if b.chance("listen:plain-in-same-server", 0.1):
        text += "\nlisten 8080;"
        b.gen.plain_ports.append(8080)
    return text


def ca_lines(b: Builder) -> list[str]:
    kind = b.pick("ca", CA_FILE)
    ca = f"{CERTS}/client-ca.pem"
    found = {"client-ca": [f"ssl_client_certificate {ca};"],
             "other-ca": [f"ssl_client_certificate {CERTS}/other-ca.pem;"],
             "trusted-only": [f"ssl_trusted_certificate {ca};"],
             "both": [f"ssl_client_certificate {ca};",
                      f"ssl_trusted_certificate {CERTS}/other-ca.pem;"]}[kind]
    depth = b.pick("verify_depth", VERIFY_DEPTH)
    if depth != "absent":
        found.append(f"ssl_verify_depth {depth};")
    return found


def ssl_setting_lines(b: Builder) -> list[str]:
    found = []
    protocols = b.pick("ssl_protocols", SSL_PROTOCOLS)
    if protocols != "absent":
        found.append(f"ssl_protocols {protocols};")
    if b.chance("ssl_session_tickets-off", 0.1):
        found.append("ssl_session_tickets off;")
    if b.chance("ssl_session_cache", 0.15):
        found.append("ssl_session_cache shared:SSL:1m;")
    return found


REALIP = {"none": 5, "cloudflare-header": 2, "everyone-xff": 1, "proxy_protocol": 1,
          "recursive": 1}


def realip_lines(b: Builder) -> list[str]:
    kind = b.pick("realip", REALIP)
    if kind == "none":
        return []
    if kind == "proxy_protocol" and 443 not in b.gen.proxy_protocol_ports:
        kind = "cloudflare-header"
    ranges = ["0.0.0.0/0"] if kind == "everyone-xff" else list(CLOUDFLARE_RANGES)
    header = {"cloudflare-header": "CF-Connecting-IP", "everyone-xff": "X-Forwarded-For",
              "proxy_protocol": "proxy_protocol", "recursive": "X-Forwarded-For"}[kind]
    lines = [f"set_real_ip_from {r};" for r in ranges] + [f"real_ip_header {header};"]
    if kind == "recursive":
        lines.append("real_ip_recursive on;")
    return lines


def answer_text(b: Builder, answer: str) -> tuple[str, list[str]]:
    """The directive a failed check answers with, and server-level lines it needs."""
    if answer == "444":
        return "return 444;", []
    if answer == "301":
        return "return 301 https://example.org/login;", []
    if answer == "200-text":
        return 'return 200 "certificate required";', []
    if answer == "error-page-named":
        return "return 403;", ["error_page 403 = @denied;"]
    if answer == "error-page-uri":
        return "return 403;", ["error_page 403 /denied.html;"]
    if answer == "rewrite-denied":
        return "rewrite ^ /denied-by-check last;", []
    return "return 403;", []


def check_lines(b: Builder, check: str, answer: str) -> tuple[list[str], list[str], list[str]]:
    """(http-level-needing lines before, a server-level check, a location-level check)."""
    refuse, extra = answer_text(b, answer)
    condition = {
        "server-if": "$ssl_client_verify != SUCCESS", "location-if":
        "$ssl_client_verify != SUCCESS", "s-dn": '$ssl_client_s_dn != "CN=edge.client.example"',
        "i-dn": '$ssl_client_i_dn != "CN=Example Client CA"',
        "fingerprint": "$ssl_client_fingerprint != " + PIN,
        "cert-empty": '$ssl_client_escaped_cert = ""', "map-chain": "$mtls_denied",
        "set-flag": "$denied", "sni-guard": f"$ssl_server_name != {SITE}"}.get(check)
    if check == "map-chain":
        b.maps.append(block("map $ssl_client_verify $mtls_ok", ["default 0;", "SUCCESS 1;"]))
        b.maps.append(block("map $mtls_ok $mtls_denied", ["default 1;", "1 0;"]))
    if check == "auth-request":
        b.uris.append("/_auth")
        return extra, ["auth_request /_auth;"], []
    if check == "app-header":
        return extra, [], ["@header"]
    if condition is None:
        return extra, [], []
    lines = [block(f"if ({condition})", [refuse])]
    if check == "set-flag":
        lines = ["set $denied 1;", block("if ($ssl_client_verify = SUCCESS)",
                                         ["set $denied 0;"]), block("if ($denied = 1)",
                                                                    [refuse])]
    if check == "location-if":
        return extra, [], lines
    return extra, lines, []


ACCESS = {"none": 6, "allow-cloudflare": 1, "allow-internal-satisfy-any": 1,
          "allow-loopback-only": 1}


def access_lines(b: Builder) -> list[str]:
    kind = b.pick("access", ACCESS)
    if kind == "allow-cloudflare":
        return [f"allow {r};" for r in CLOUDFLARE_RANGES] + ["deny all;"]
    if kind == "allow-internal-satisfy-any":
        return ["satisfy any;", "allow 10.0.0.0/8;", "allow 192.168.0.0/16;", "deny all;"]
    if kind == "allow-loopback-only":
        return ["allow 127.0.0.1;", "deny all;"]
    return []


def root_lines(b: Builder) -> list[str]:
    kind = b.pick("server-root", SERVER_ROOTS)
    found = {"none": [], "app": ["root /var/www/app;"],
             "stock": ["root /var/www/html;"]}[kind]
    if b.chance("index", 0.3):
        found.append("index index.html index.php;")
    return found


# --------------------------------------------------------------------------- locations

def location_body(b: Builder, kind: str) -> list[str]:
    """What a location does to serve (or not) content."""
    return {
        "proxy": [f"proxy_pass {APP};"],
        "proxy-uri": [f"proxy_pass {APP}/backend/;"],
        "root": ["root /var/www/app;"],
        "alias": ["alias /var/www/app/files/;"],
        "try-files-uri": ["root /var/www/app;", "try_files $uri $uri/ =404;"],
        "try-files-named": ["try_files $uri @app;"],
        "return-text": ['return 200 "ok";'],
        "fastcgi": ["fastcgi_pass 127.0.0.1:9000;"],
        "default-root": [],
        "public": ["root /var/www/public;"],
    }[kind]


CONTENT = {"proxy": 6, "proxy-uri": 1, "root": 2, "alias": 1, "try-files-uri": 1,
           "try-files-named": 1, "return-text": 1, "fastcgi": 1, "default-root": 1,
           "public": 1}
LOCATIONS = {"/": 4, "/api/": 3, "= /health": 2, "~ \\.php$": 1, "^~ /static/": 2,
             "~* ^/admin": 1, "/files/": 1}
MODIFIERS = {"plain": 6, "internal": 1, "limit_except-open": 1, "limit_except-deny": 1,
             "nested": 1, "error_page-named": 1, "intercept": 1, "if-uri": 1, "map-var": 1,
             "geo-var": 1, "split_clients": 1}


def locations(b: Builder, check: list[str]) -> list[str]:
    """1-4 locations; a location-level check goes into each (or, with a probability, only
    into the first: the others stay open)."""
    count = b.rng.randint(1, 4)
    chosen = list(dict.fromkeys(b.rng.choices(list(LOCATIONS), list(LOCATIONS.values()),
                                              k=count)))
    found: list[str] = []
    named = {"@app": [f"proxy_pass {APP};"], "@denied": ['return 403 "denied";']}
    partial = bool(check) and b.chance("location-check-partial", 0.3)
    for index, pattern in enumerate(chosen):
        b.constructs.append(f"location:{pattern.split()[0] if ' ' in pattern else 'prefix'}")
        body = location_body(b, b.pick("content", CONTENT))
        if pattern.startswith("~"):  # nginx -t: no URI part under a regex location
            body = [line.replace("/backend/;", ";") for line in body]
        lines = list(check_text(check) if check and (index == 0 or not partial) else [])
        lines += modifier_lines(b, body, pattern)
        found.append(block(f"location {pattern}", lines))
        b.uris += example_uris(pattern)
    if "@header" in check:  # the application refuses unless nginx says SUCCESS
        found = [f.replace(f"proxy_pass {APP};", "proxy_set_header X-Client-Verify "
                           f"$ssl_client_verify;\n        proxy_pass {APP};") for f in found]
    found.append(block("location = /denied.html", ['return 403 "denied";']))
    found.append(block("location = /denied-by-check", ["return 403;"]))
    if "/_auth" in b.uris:
        found.append(block("location = /_auth", ["internal;", block(
            "if ($ssl_client_verify != SUCCESS)", ["return 403;"]), "return 204;"]))
    found += [block(f"location {name}", body) for name, body in named.items()]
    return found


def check_text(check: list[str]) -> list[str]:
    return [c for c in check if not c.startswith("@")]


def modifier_lines(b: Builder, body: list[str], pattern: str) -> list[str]:
    kind = b.pick("modifier", MODIFIERS)
    if kind == "nested" and pattern.startswith("="):  # nginx -t: nothing inside `=`
        kind = "plain"
    if kind == "internal":
        return ["internal;"] + body
    if kind == "limit_except-open":
        return [block("limit_except GET", ["allow all;"])] + body
    if kind == "limit_except-deny":
        return [block("limit_except GET", ["deny all;"])] + body
    if kind == "nested":  # a URI that reaches the inner location through the outer one
        prefix = re.sub(r"^(\^~|~\*?)?\s*\^?", "", pattern)
        b.uris.append((prefix if prefix.startswith("/") else "/").rstrip("/") + "/inner/x.json")
        return body + [block("location ~ \\.json$", [f"proxy_pass {APP2};"])]
    if kind == "error_page-named":
        return ["error_page 403 404 = @app;"] + body
    if kind == "intercept":
        return ["proxy_intercept_errors on;", "error_page 403 = @app;"] + body
    if kind == "if-uri":
        return [block("if ($request_uri ~ \\.json$)", ['return 200 "json";'])] + body
    if kind in ("map-var", "geo-var", "split_clients"):
        return variable_gate(b, kind) + body
    return body


def variable_gate(b: Builder, kind: str) -> list[str]:
    """A variable computed from the request that picks between content and a refusal."""
    if kind == "map-var" and not any("$route_ok" in m for m in b.maps):
        flags = b.pick("map-flags", MAP_FLAGS)
        head = [f"{flags};"] if flags != "plain" else []
        source = "$host" if flags == "hostnames" else "$http_x_route"
        b.maps.append(block(f"map {source} $route_ok", head + [
            "default 1;", "~^internal 0;" if flags != "hostnames" else "*.internal 0;"]))
    if kind == "geo-var" and not any("$trusted_net" in m for m in b.maps):
        source = b.pick("geo-source", GEO_SOURCES)
        b.maps.append(block(f"geo ${source} $trusted_net", [
            "default 0;", "173.245.48.0/20 1;", "10.0.0.0/8 1;"]))
    if kind == "split_clients" and not any("$bucket" in m for m in b.maps):
        b.maps.append(block('split_clients "${remote_addr}x" $bucket',
                            ["50% a;", "* b;"]))
    test = {"map-var": "$route_ok = 0", "geo-var": "$trusted_net = 1",
            "split_clients": "$bucket = a"}[kind]
    return [block(f"if ({test})", [f"proxy_pass {APP2};" if kind == "geo-var"
                                   else 'return 200 "gated";'])]


def example_uris(pattern: str) -> list[str]:
    return {"/": ["/", "/page.html"], "/api/": ["/api/x", "//api/x", "/%61pi/x"],
            "= /health": ["/health", "/health?x=1"], "~ \\.php$": ["/index.php"],
            "^~ /static/": ["/static/app.css", "/static/../api/x"],
            "~* ^/admin": ["/admin/", "/ADMIN/"], "/files/": ["/files/report.pdf"]
            }.get(pattern, ["/"])


# --------------------------------------------------------------------------- around it

DEFAULTS = {"none": 4, "reject-handshake": 2, "return-444": 2, "stock-root": 1,
            "proxy-unverified": 1, "other-ca-verifying": 1, "duplicate-first": 1}


def default_server(b: Builder) -> str:
    kind = b.pick("default", DEFAULTS)
    if kind == "none":
        return ""
    tls = [f"ssl_certificate {CERTS}/server.pem;", f"ssl_certificate_key {CERTS}/server.key;"]
    taken = "listen:default_server" in b.constructs or kind == "duplicate-first"
    head = ["listen 443 ssl;" if taken else "listen 443 ssl default_server;"]
    name = [f"server_name {SITE};"] if kind == "duplicate-first" else ["server_name _;"]
    body = {"reject-handshake": ["ssl_reject_handshake on;"], "return-444": ["return 444;"],
            "stock-root": ["root /var/www/html;"], "proxy-unverified": [
                block("location /", [f"proxy_pass {APP};"])],
            "other-ca-verifying": [f"ssl_client_certificate {CERTS}/other-ca.pem;",
                                   "ssl_verify_client on;",
                                   block("location /", [f"proxy_pass {APP};"])],
            "duplicate-first": [block("location /", [f"proxy_pass {APP};"])]}[kind]
    if kind == "other-ca-verifying":
        b.gen.other_names.append("partner.example.com")
        name = ["server_name partner.example.com;"]
    return block("server", head + name + tls + body)


PLAINS = {"none": 3, "redirect": 3, "certbot": 2, "acme-then-redirect": 1,
          "same-content": 1, "npm-force-ssl": 1}


def plain_server(b: Builder) -> str:
    kind = b.pick("plain", PLAINS)
    if kind == "none":
        return ""
    b.gen.plain_ports.append(80)
    body = {"redirect": ["return 301 https://$host$request_uri;"],
            "certbot": [block(f"if ($host = {SITE})", ["return 301 https://$host$request_uri;"]),
                        "return 404;"],
            "acme-then-redirect": [block("location /.well-known/acme-challenge/",
                                         ["root /var/www/acme;"]),
                                   block("location /", ["return 301 https://$host$request_uri;"])],
            "same-content": [block("location /", [f"proxy_pass {APP};"])],
            "npm-force-ssl": ['set $test "";', block("if ($scheme = \"http\")",
                                                     ['set $test "H";']),
                              block("if ($request_uri = /.well-known/acme-challenge/test-challenge)",
                                    ['set $test "${test}T";']),
                              block('if ($test = H)', ["return 301 https://$host$request_uri;"]),
                              block("location /", [f"proxy_pass {APP};"])]}[kind]
    if kind == "npm-force-ssl":
        b.uris.append("/.well-known/acme-challenge/test-challenge")
    return block("server", ["listen 80;", f"server_name {SITE};"] + body)


def twin_server(b: Builder) -> str:
    kind = b.pick("twin", TWINS)
    if kind == "none":
        return ""
    if kind.startswith("tunnel"):
        address = "127.0.0.1:8081" if kind == "tunnel-loopback" else "8081"
        b.gen.loopback_ports.append(8081)
        if kind == "tunnel-every-address":
            b.gen.plain_ports.append(8081)
        return block("server", [f"listen {address};", f"server_name {SITE};",
                                block("location /", [f"proxy_pass {APP};"])])
    b.gen.tls_ports.append(8443)
    verify = [f"ssl_client_certificate {CERTS}/client-ca.pem;", "ssl_verify_client on;"] \
        if kind == "verifying" else []
    return block("server", ["listen 8443 ssl;", f"server_name {SITE};",
                            f"ssl_certificate {CERTS}/server.pem;",
                            f"ssl_certificate_key {CERTS}/server.key;"] + verify
                 + [block("location /", [f"proxy_pass {APP};"])])


def stream_block(b: Builder) -> str:
    kind = b.pick("stream", STREAMS)
    if kind == "none":
        return ""
    b.gen.stream_ports.append(9443)
    b.gen.tls_ports.append(9443)
    lines = ["listen 9443 ssl;", f"ssl_certificate {CERTS}/server.pem;",
             f"ssl_certificate_key {CERTS}/server.key;",
             f"ssl_client_certificate {CERTS}/client-ca.pem;"]
    lines += {"verify-on": ["ssl_verify_client on;"],
              "verify-optional": ["ssl_verify_client optional;"],
              "ca-without-verify": [], "map-target": ["ssl_verify_client optional;"]}[kind]
    target = "$stream_target" if kind == "map-target" else "127.0.0.1:3000"
    head = block("map $ssl_client_verify $stream_target", [
        "default 127.0.0.1:9;", "SUCCESS 127.0.0.1:3000;"]) if kind == "map-target" else ""
    return block("stream", ([head] if head else []) + [block("server", lines + [
        f"proxy_pass {target};"])])


# --------------------------------------------------------------------------- the whole

def generate(seed: int) -> Generated:
    """The configuration of `seed`."""
    b = Builder(seed)
    servers = [protected_server(b)]
    default = default_server(b)
    if default:  # a server loaded first answers for a shared name; default_server wins anyway
        servers.insert(0 if b.rng.random() < 0.5 else 1, default)
    servers += [s for s in (plain_server(b), twin_server(b)) if s]
    http = block("http", b.maps + servers)
    stream = stream_block(b)
    gen = b.gen
    gen.text = f"events {{}}\n{http}\n{stream}\n"
    gen.uris = list(dict.fromkeys(b.uris + gen.uris + ["/zz-unmatched/page.html"]))
    gen.tls_ports = sorted(set(gen.tls_ports))
    gen.plain_ports = sorted(set(gen.plain_ports))
    gen.tunnel = "twin:tunnel-loopback" in gen.constructs
    return gen


def block(head: str, lines: list[str]) -> str:
    inner = "\n".join("    " + line.replace("\n", "\n    ") for line in lines if line)
    return f"{head} {{\n{inner}\n}}"


def all_constructs() -> set[str]:
    """Every construct name the generator can record."""
    found = set(CHANCES)
    for kind, table in (("server_name", SERVER_NAMES), ("verify", VERIFY), ("ca", CA_FILE),
                        ("check", CHECKS), ("answer", ANSWERS), ("realip", REALIP),
                        ("access", ACCESS), ("content", CONTENT), ("modifier", MODIFIERS),
                        ("default", DEFAULTS), ("plain", PLAINS),
                        ("verify_depth", VERIFY_DEPTH), ("ssl_protocols", SSL_PROTOCOLS),
                        ("server-root", SERVER_ROOTS), ("map-flags", MAP_FLAGS),
                        ("geo-source", GEO_SOURCES), ("twin", TWINS), ("stream", STREAMS)):
        found |= {f"{kind}:{name}" for name in table}
    found |= {"location:" + (p.split()[0] if " " in p else "prefix") for p in LOCATIONS}
    return found
