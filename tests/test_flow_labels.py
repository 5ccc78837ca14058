"""Every configuration under fixtures/flow/ carries the label a real nginx gave it; re-prove it.

Each case is `fixtures/flow/<case>/nginx.conf` (plus any file it includes), written as a user
would (`listen 443 ssl;`, `/etc/nginx/certs/...`, `root /var/www/...`, `proxy_pass
http://127.0.0.1:3000`), with a header:

    # label: bypass | held | broken
    # proof: client=none uri=/static/app.css host=app.example.com -> content
    # facts: §7 <the statement it proves>
    # uris: /extra /uris          (optional: more URIs to try)
    # valid: client=plain src=loopback port=8080   (optional: who the legitimate client is)
    # label-versions: <1.29.2    (optional: the versions the label and proofs are claimed
                                  for; nginx behaves otherwise on the others: skipped there)
    # versions: <1.25.1          (optional: the nginx versions whose `nginx -t` accepts the
                                  case; on another, the test proves that `nginx -t` refuses
                                  it, and tests/test_flow_fixtures.py that the linter says so)

`client` is none | selfsigned (self-signed, the valid client's name) | forged (a home-made CA
with the expected CA's name issued it, with the valid client's name) | other (a certificate
of other-ca.pem) | otherdn (other-ca.pem's, with the valid client's name: what a subject pin
lets through from another trusted CA; in proofs only, the sweep sends none, like resumption)
| valid (client-ca.pem) | plain (plain HTTP). `src` is direct (anyone on the
Internet), cf (a Cloudflare edge address, sending CF-Connecting-IP) or loopback; `sni` is host,
none or a name; `spoof=ADDR` sends ADDR in CF-Connecting-IP, X-Forwarded-For and X-Real-IP;
`method=MALFORMED` is a GET with a header line that has no colon; `ip=6` connects over IPv6;
`header=Name:value` sends one more header; `resume=NAME` (or `resume=none`) first makes a TLS session with that SNI (none: without
SNI), then resumes it for the request (TLS 1.3 session tickets; a proof of a client without
a valid certificate that resumes a session is part of the sweep, which sends none).
After `->`: content, nocontent, a status code, or closed.

The test runs nginx as written, with its real ports, inside a private network namespace (root
only): the origin answers on 192.0.2.10, a Cloudflare edge connects from 173.245.48.5, a direct
client from 198.51.100.7 (over IPv6: the origin 2001:db8::10, the edge 2400:cb00::5, the client
2001:db8:ff::7; a case with a `listen [::]:...` is swept over both). Only paths are rewritten (certificates, roots, logs), and a 40-hex
fingerprint pin becomes the valid client's fingerprint. Upstreams on 127.0.0.1:<port> (always
3000 and 3001; FastCGI on 9000-9009) are a small application answering the marker, and every
root gets a page with the marker for each URI tried, except error pages (denied*, error*,
4xx.html, /errors/...), ACME challenges, public assets (a root under /public/), the
distribution's default site (/var/www/html, /usr/share/nginx/html) and nginx's compiled-in
default root (<prefix>/html, what a server naming no root serves: nginx's welcome page),
which are not the protected content. Then it tries every client kind x SNI x method x URI (derived from the
locations) x host, and the sources for clients without a certificate (see sweep()):
  bypass: the proof requests got content, and so did at least one client without a valid
          certificate of the expected CA;
  held:   no such client got content on any request, the valid client did;
  broken: the valid client got no content on any URI, and nobody else did either.

The labels are proven on Debian's nginx (1.22.1); test_upstream_nginx_gives_the_label proves
them again on upstream builds (tests/nginx_builds.py): NGINX_MTLS_LINT_FLOW_VERSIONS names
them, comma-separated (default 1.30.4, the newest; "" for none; 1.26.2,1.28.0,1.30.4 for all).
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import functools
import hashlib
import ipaddress
import json
import os
import re
import select
import shutil
import signal
import socket
import socketserver
import ssl
import struct
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import FIXTURES, key_pem, make_cert, pem, skip_or_fail
from nginx_harness import CONTENT, Nginx, built_binary, http1_answer, http_defaults, \
    nginx_binary, nginx_version
from nginx_mtls_lint import versions
from nginx_mtls_lint.probe import _read

pytestmark = [pytest.mark.nginx, pytest.mark.slow]

FLOW = FIXTURES / "flow"
# Cases whose `# expect:` lines the linter does not give yet wait in flow_pending/ (the
# linter-agreement test reads flow/ only); their labels are proven here all the same.
PENDING = FIXTURES / "flow_pending"
CASES = sorted(p for folder in (FLOW, PENDING) if folder.is_dir() for p in folder.iterdir()
               if (p / "nginx.conf").is_file())
ORIGIN, EDGE, DIRECT = "192.0.2.10", "173.245.48.5", "198.51.100.7"
# More addresses an attacker may come from (what split_clients or a hash of the address picks)
OTHER_DIRECT = ("198.51.100.8", "198.51.100.9")
VISITOR = "203.0.113.50"  # the visitor Cloudflare names in CF-Connecting-IP
SOURCES = {"direct": DIRECT, "cf": EDGE, "loopback": "127.0.0.1"}
ORIGIN6 = "2001:db8::10"
SOURCES6 = {"direct": "2001:db8:ff::7", "cf": "2400:cb00::5", "loopback": "::1"}
NOT_VALID = ("none", "selfsigned", "forged", "other")
MALFORMED = "MALFORMED"  # a GET with a header line nginx cannot parse
CLIENT_NAME, CA_NAME = "edge.client.example", "Example Client CA"
CASE_TIMEOUT = 240
FLOW_VERSIONS = tuple(filter(None, os.environ.get("NGINX_MTLS_LINT_FLOW_VERSIONS",
                                                  "1.30.4").split(",")))


# --------------------------------------------------------------------------- the case header

@dataclass(frozen=True)
class Request:
    client: str = "none"
    src: str = ""
    sni: str = "host"
    method: str = "GET"
    uri: str = "/"
    host: str = ""
    port: int = 0
    spoof: str = ""
    ip: str = ""  # "6": over IPv6
    # TLS 1.3 resumption: first a session made with this SNI ("none": without SNI) by the
    # same client, then this request resumes it
    resume: str = ""
    header: str = ""  # one more request header, "Name:value"

    def complete(self, case: "Case") -> "Request":
        """Defaults: the valid client comes from a Cloudflare edge, others directly; the
        first plain or TLS port of the case; its first host."""
        ports = (case.plain_ports or [80]) if self.client == "plain" else (case.tls_ports or [443])
        return replace(self, src=self.src or ("cf" if self.client == "valid" else "direct"),
                       host=self.host or case.hosts[0], port=self.port or ports[0])

    def __str__(self) -> str:
        return " ".join(f"{k}={v}" for k, v in asdict(self).items() if v)


@dataclass
class Case:
    folder: Path
    label: str
    proofs: list[tuple[Request, str]]
    valid: Request
    uris: list[str]
    hosts: list[str]
    tls_ports: list[int]
    plain_ports: list[int]
    loopback_ports: list[int]
    origin_ports: list[int]  # ports nginx listens on only at the origin's address
    ipv6_ports: list[int]  # ports with a wildcard or origin IPv6 listener: swept over IPv6 too
    spoofs: list[str]
    upstreams: list[int]
    methods: tuple[str, ...]
    versions: str = ""  # "" (every version) or bounds such as "<1.25.1" or ">=1.23.4 <1.27.2"
    # the versions the label (and its proofs) are claimed for, where nginx behaves otherwise
    # on the others although it accepts the case (facts §6)
    label_versions: str = ""

    def holds_for(self, version: str, bounds: str | None = None) -> bool:
        """Whether the case's label is claimed for nginx `version`."""
        found = versions.parse_upstream(version)
        for bound in (self.versions if bounds is None else bounds).split():
            operator, number, _ = bound.partition(bound.lstrip("<>="))
            limit = versions.parse_upstream(number)
            if not {"<": found < limit, "<=": found <= limit, ">": found > limit,
                    ">=": found >= limit, "": found == limit}[operator]:
                return False
        return True


HEADER = re.compile(r"^#\s*(label|proof|facts|uris|valid|versions|label-versions):\s*(.*?)\s*$")
LISTEN = re.compile(r"^\s*listen\s+([^;#]+);", re.M)
LOCATION = re.compile(r"\blocation\s+(=|\^~|~\*?)?\s*(\"[^\"]+\"|[^\s{]+)\s*\{")
UPSTREAM = re.compile(r"(?:_pass\s+(?:https?://)?|^\s*server\s+)127\.0\.0\.1:(\d+)", re.M)
FASTCGI_PORTS = range(9000, 9010)  # php-fpm's place: a FastCGI application


def parse_request(text: str) -> Request:
    fields = dict(item.split("=", 1) for item in text.split())
    if "port" in fields:
        fields["port"] = int(fields["port"])
    return Request(**fields)


def case_texts(folder: Path) -> str:
    """Every file of the case, comments removed."""
    return "\n".join(re.sub(r"#[^\n]*", "", p.read_text())
                     for p in sorted(folder.rglob("*")) if p.is_file())


def listens(text: str, ipv6: bool = False) -> list[tuple[str, int, bool]]:
    """(address, port, ssl) for each IPv4 or wildcard listen (with `ipv6`: each IPv6
    listen, and IPv4 ones no longer); address '*' for every address, ORIGIN (ORIGIN6) for
    the origin's public one."""
    found = []
    for args in LISTEN.findall(text):
        words = args.split()
        address, _, port = words[0].rpartition(":")
        if words[0].startswith("[") and ipv6:
            if words[0].endswith("]"):  # `listen [::];`: port 80
                address, port = words[0], "80"
            address = address.strip("[]")
            found.append(("*" if address == "::" else address, int(port),
                          "ssl" in words[1:]))
            continue
        if address.startswith("[") or words[0].startswith("unix:") or ipv6:
            continue
        if not port.isdigit():  # `listen 8080` or `listen 127.0.0.1` (port 80)
            address, port = (words[0], "80") if "." in words[0] else ("*", words[0])
        found.append((address if address not in ("", "*", "0.0.0.0") else "*", int(port),
                      "ssl" in words[1:]))
    return found


def location_uris(text: str) -> list[str]:
    uris = []
    for modifier, pattern in LOCATION.findall(text):
        pattern = pattern.strip('"')
        if pattern.startswith("@"):
            continue
        if modifier in ("~", "~*"):
            uri = regex_example(pattern)
            if uri:
                uris.append(uri)
        elif modifier == "=":
            uris.append(pattern)
        else:
            uris.append(pattern + "page.html" if pattern.endswith("/") else pattern)
    return uris


def regex_example(pattern: str) -> str | None:
    """A URI the regex matches, for the simple regexes configurations use; None otherwise."""
    text = pattern.lstrip("^").rstrip("$")
    text = re.sub(r"\(\?:|\(\?<\w+>|\(\?P<\w+>", "(", text)
    text = re.sub(r"\(([^()|]*)\|[^()]*\)", r"\1", text)  # (a|b) -> a
    text = re.sub(r"\[\^/\]\+|\[\^/\]\*|\.\+|\.\*|\\w\+|\[a-z0-9-\]\+|\[0-9\]\+|\\d\+",
                  "x1", text)
    text = text.replace("\\.", ".").replace("\\/", "/").replace("(", "").replace(")", "")
    text = text.replace("?", "")
    uri = text if text.startswith("/") else "/" + text
    flags = re.I if pattern.startswith("(?i)") else 0
    try:
        return uri if re.search(pattern, uri, flags) else None
    except re.error:
        return None


def spoof_addresses(text: str) -> list[str]:
    """Addresses a direct client might claim with a real-IP header: one inside each range
    that an allow list or a geo block names, and a Cloudflare edge address (the request also
    carries the headers Cloudflare adds)."""
    if "real_ip_header" not in text and "$http_cf_" not in text:
        return []
    found = ["173.245.48.77"]
    for cidr in re.findall(r"(?:allow\s+|^\s*)(\d+\.\d+\.\d+\.\d+(?:/\d+)?)[\s;]", text,
                           re.M):
        network = ipaddress.ip_network(cidr, strict=False)
        address = str(network.network_address + (1 if network.num_addresses > 1 else 0))
        if address not in found:
            found.append(address)
    return found[:5]


def load_case(folder: Path) -> Case:
    text = case_texts(folder)
    head: dict[str, list[str]] = {}
    for line in (folder / "nginx.conf").read_text().splitlines():
        match = HEADER.match(line)
        if match:
            head.setdefault(match.group(1), []).append(match.group(2))
    assert head.get("label") and head["label"][0] in ("bypass", "held", "broken"), folder
    assert head.get("proof") and head.get("facts"), f"{folder}: # proof: and # facts: needed"
    proofs = []
    for line in head["proof"]:
        request, _, expected = line.partition("->")
        proofs.append((parse_request(request), expected.strip() or "content"))
    hosts = []
    for request, _ in proofs:
        if request.host and request.host not in hosts:
            hosts.append(request.host)
    assert hosts, f"{folder}: name the host in a # proof: line"
    found = listens(text) + listens(text, ipv6=True)
    public = ("*", ORIGIN, ORIGIN6)
    tls = sorted({p for a, p, s in found if a in public and s})
    plain = sorted({p for a, p, s in found if a in public and p not in tls})
    loopback = sorted({p for a, p, _ in listens(text) if a in ("*", "127.0.0.1")})
    origin = sorted({p for a, p, _ in listens(text) if a == ORIGIN} - set(loopback))
    ipv6 = sorted({p for a, p, _ in listens(text, ipv6=True) if a in public})
    uris = ["/", "/zz-unmatched/page.html"] + location_uris(text)
    uris += [r.uri for r, _ in proofs] + " ".join(head.get("uris", [])).split()
    valid = parse_request(head["valid"][0]) if head.get("valid") else Request(client="valid")
    return Case(folder, head["label"][0], proofs, valid, list(dict.fromkeys(uris)), hosts,
                tls, plain, loopback, origin, ipv6, spoof_addresses(text),
                sorted({3000, 3001} | {int(p) for p in UPSTREAM.findall(text)}),
                # another method only matters where the configuration tells methods apart
                tuple(dict.fromkeys(["GET", "POST"] + [r.method for r, _ in proofs
                                                        if r.method != MALFORMED]))
                if re.search(r"limit_except|\$request_method", text) else ("GET",),
                " ".join(head.get("versions", [])), " ".join(head.get("label-versions", [])))


# --------------------------------------------------------------------------- certificates

@pytest.fixture(scope="module")
def flow_pki(tmp_path_factory) -> Path:
    return make_flow_pki(tmp_path_factory.mktemp("flow-pki"))


def make_flow_pki(d: Path, client_name: str = CLIENT_NAME,
                  more_valid: dict[str, str] | None = None) -> Path:
    """client-ca.pem (expected), other-ca.pem, server.pem/key, and one client per kind (the
    valid, forged and self-signed ones named `client_name`); `more_valid` names more clients
    of the expected CA (kind -> name)."""
    ca, ca_key = make_cert(CA_NAME, key_ids=True)
    other, other_key = make_cert("Other Client CA", key_ids=True)
    # Same name, another key. The forged client's authority key identifier names this CA, so
    # OpenSSL does not take the real CA (which has a subject key identifier, as Cloudflare's
    # has) for its issuer: "unable to verify the first certificate", which optional_no_ca lets
    # through. Without key identifiers it would be "certificate signature failure": 400.
    home, home_key = make_cert(CA_NAME, key_ids=True)
    clients = {
        "valid": make_cert(client_name, issuer=(ca, ca_key), ca=False, key_ids=True),
        "other": make_cert("partner.client.example", issuer=(other, other_key), ca=False,
                           key_ids=True),
        "forged": make_cert(client_name, issuer=(home, home_key), ca=False, key_ids=True),
        "otherdn": make_cert(client_name, issuer=(other, other_key), ca=False, key_ids=True),
        "selfsigned": make_cert(client_name, ca=False),
    }
    for kind, name in (more_valid or {}).items():
        clients[kind] = make_cert(name, issuer=(ca, ca_key), ca=False, key_ids=True)
    server, server_key = make_cert("app.example.com", ca=False)
    files = {"client-ca.pem": pem(ca), "other-ca.pem": pem(other), "server.pem": pem(server),
             "server.key": key_pem(server_key)}
    for kind, (cert, key) in clients.items():
        files[f"client-{kind}.pem"], files[f"client-{kind}.key"] = pem(cert), key_pem(key)
    for name, data in files.items():
        (d / name).write_bytes(data)
    return d


def fingerprint(pem_file: Path) -> str:
    """What nginx puts in $ssl_client_fingerprint: SHA-1 of the DER certificate, in hex."""
    return hashlib.sha1(ssl.PEM_cert_to_DER_cert(pem_file.read_text())).hexdigest()


# --------------------------------------------------------------------------- the origin side

def page_text(path: str, default_root: str = "") -> str:
    """The marker, except in error pages, public assets, ACME challenges, the distribution's
    default site and nginx's compiled-in default root (not the protected content)."""
    name = path.rsplit("/", 1)[-1]
    if default_root and path.startswith(default_root + "/"):
        return "<p>Welcome to nginx!</p>\n"  # html/index.html of nginx's own tree
    if re.search(r"denied|error|forbidden|maintenance|^\d(\d\d|xx)\.html$", name) \
            or "/errors/" in path:
        return "<p>error page</p>\n"
    if "/public/" in path or "/.well-known/acme-challenge/" in path:
        return "<p>public asset</p>\n"
    if "/var/www/html/" in path or "/usr/share/nginx/html/" in path:
        return "<p>Welcome to nginx!</p>\n"  # the distribution's default site
    return f"<p>{CONTENT}</p>\n"


def prepare(case: Case, prefix: Path, pki: Path, binary: str | None = None) -> Nginx:
    """Copy the case into `prefix` (relative includes resolve there) with the paths it names
    moved into the prefix and any 40-hex fingerprint pin set to the valid client's; create
    the site's files for every URI tried."""
    www = prefix / "www"
    shutil.copytree(case.folder, prefix, dirs_exist_ok=True)
    pin = fingerprint(pki / "client-valid.pem")
    request_uris = case.uris + ["/index.html", "/protected/report.pdf"]
    texts = []
    for path in prefix.rglob("*"):
        if not path.is_file():
            continue
        text = path.read_text().replace("/etc/nginx/certs/", f"{pki}/")
        text = re.sub(r"\b(root|alias)(\s+)(/)", lambda m: f"{m[1]}{m[2]}{www}/", text)
        text = re.sub(r"\b(access_log|error_log)\s+/[^\s;]+", rf"\1 {prefix}/logs/flow.log", text)
        text = re.sub(r"(?<![0-9a-fA-F])[0-9a-f]{40}(?![0-9a-fA-F])", pin, text)
        path.write_text(text)
        texts.append(text)
        request_uris += re.findall(r"error_page\s+[^;]*?(/[^\s;]*)\s*;", text)
        request_uris += re.findall(r"try_files\s+[^;]*?(/[^\s;$]+)\s*;", text)
    every = "\n".join(texts)
    roots = set(re.findall(rf"\broot\s+({re.escape(str(www))}/[^;\s]*)", every))
    # nginx's compiled-in default root (under -p prefix) serves what a server that names no
    # root has: the package's welcome page, never the site's content.
    default_root = str(prefix / "html")
    roots.add(default_root)
    # (the location's own alias, after any nested block such as an `if`)
    aliases = re.findall(rf"location\s+\^?~?\s*(/\S*)\s*\{{(?:[^{{}}]|\{{[^{{}}]*\}})*?\balias\s+"
                         rf"({re.escape(str(www))}/[^;\s]*)", every)
    for uri in filter(None, request_uris):
        uri = uri.split("?")[0]
        if "missing" in uri:  # a file that does not exist, for try_files fallbacks
            continue
        if "/./" in uri or "/../" in uri:  # nginx resolves dot segments before any file
            continue
        targets = [root + uri for root in roots]
        targets += [alias + uri[len(loc):] for loc, alias in aliases if uri.startswith(loc)]
        for target in targets:
            page = Path(target + "index.html" if target.endswith("/") else target)
            try:  # a file of a shorter URI may stand where this one needs a folder
                page.parent.mkdir(parents=True, exist_ok=True)
            except (FileExistsError, NotADirectoryError):
                continue
            if not page.exists():
                page.write_text(page_text(str(page), default_root))
    for root in roots:
        Path(root).mkdir(parents=True, exist_ok=True)
        index = Path(root) / "index.html"
        if not index.exists():
            index.write_text(page_text(str(index), default_root))
    text = (prefix / "nginx.conf").read_text()
    defaults = http_defaults(prefix)
    if "default_type" in text:  # the case sets its own: a second one fails nginx -t
        defaults = re.sub(r".*default_type.*\n", "", defaults)
    text = re.sub(r"^(\s*http\s*\{)", lambda m: m[1] + "\n" + defaults, text, count=1,
                  flags=re.M)
    return Nginx(prefix, conf_text=text, binary=binary)


class App(BaseHTTPRequestHandler):
    """The protected application: the marker for every method, except that it refuses (403)
    a request whose X-Client-Verify header says the certificate did not verify, and answers
    /download/... with an X-Accel-Redirect to /protected/..."""

    def handle_any(self):
        verify = self.headers.get("X-Client-Verify")
        if verify is not None and verify != "SUCCESS":
            status, body, extra = 403, b"app refused\n", {}
        elif self.path.startswith("/download/"):
            status, body, extra = 200, b"", {"X-Accel-Redirect": "/protected/report.pdf"}
        else:
            status, body, extra = 200, f"<p>{CONTENT}</p>\n".encode(), {}
        self.send_response(status)
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = handle_any

    def log_message(self, *args):
        pass


class FastCgiApp(socketserver.StreamRequestHandler):
    """The protected application behind `fastcgi_pass`: the marker for every request."""

    def handle(self):
        request_id = 1
        while True:  # records until the empty FCGI_STDIN that ends the request
            header = self.rfile.read(8)
            if len(header) < 8:
                return
            _, kind, request_id, length, padding = struct.unpack("!BBHHBx", header)
            self.rfile.read(length + padding)
            if kind == 5 and length == 0:
                break
        body = f"Status: 200 OK\r\nContent-Type: text/html\r\n\r\n<p>{CONTENT}</p>\n".encode()
        for kind, content in ((6, body), (6, b""), (3, bytes(8))):  # STDOUT, its end, END
            self.wfile.write(struct.pack("!BBHHBx", 1, kind, request_id, len(content), 0)
                             + content)


# --------------------------------------------------------------------------- the clients

_CONTEXTS = threading.Lock()


def client_context(pki: Path, client: str) -> ssl.SSLContext:
    """One context per client kind: a session resumes only with the context that made it."""
    with _CONTEXTS:
        return _client_context(pki, client)


@functools.lru_cache(maxsize=None)
def _client_context(pki: Path, client: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if client != "none":
        context.load_cert_chain(pki / f"client-{client}.pem", pki / f"client-{client}.key")
    return context


def send(request: Request, pki: Path) -> dict:
    """One connection, one HTTP/1.1 request. Returns status (or None), content, detail."""
    src = (SOURCES6 if request.ip == "6" else SOURCES)[request.src]
    dst = "::1" if request.ip == "6" and request.src == "loopback" else \
        ORIGIN6 if request.ip == "6" else "127.0.0.1" if request.src == "loopback" else ORIGIN
    headers = {"Host": request.host, "Connection": "close", "User-Agent": "flow-test"}
    if request.src in ("cf", "loopback"):  # a Cloudflare edge, or cloudflared on this host
        headers["CF-Connecting-IP"] = VISITOR
    if request.spoof:
        for name in ("CF-Connecting-IP", "X-Forwarded-For", "X-Real-IP"):
            headers[name] = request.spoof
    if request.spoof or request.src == "cf":
        headers.update({"CF-Ray": "8c2f1a9b7d3e4f56-FRA", "CF-IPCountry": "DE"})
    if request.method not in ("GET", MALFORMED):
        headers["Content-Length"] = "0"
    if request.header:
        name, _, value = request.header.partition(":")
        headers[name] = value
    lines = [f"{k}: {v}" for k, v in headers.items()]
    if request.method == MALFORMED:  # nginx answers 400 before it looks at the certificate
        lines.append("this header line has no colon")
    method = "GET" if request.method == MALFORMED else request.method
    raw_request = (f"{method} {request.uri} HTTP/1.1\r\n" + "".join(f"{line}\r\n" for line in lines)
                   + "\r\n").encode()
    try:
        sock = socket.create_connection((dst, request.port), timeout=5,
                                        source_address=(src, 0))
    except OSError as e:
        return {"status": None, "content": False, "detail": f"connect: {e.strerror or e}"}
    try:
        if request.client != "plain":
            try:
                sni = {"host": request.host, "none": None}.get(request.sni, request.sni)
                session = made_session(request, src, dst, pki) if request.resume else None
                sock = client_context(pki, request.client).wrap_socket(
                    sock, server_hostname=sni, session=session)
            except (ssl.SSLError, OSError) as e:
                return {"status": None, "content": False, "detail": f"TLS: {e}"}
        sock.sendall(raw_request)
        data = _read(sock)
    except OSError as e:
        return {"status": None, "content": False, "detail": f"ended: {e}"}
    finally:
        sock.close()
    return http1_answer(data)


def made_session(request: Request, src: str, dst: str, pki: Path) -> ssl.SSLSession | None:
    """A TLS session the client makes with SNI `request.resume` ("none": no SNI), after
    reading the answer to one request (TLS 1.3 tickets come after the handshake)."""
    sni = None if request.resume == "none" else request.resume
    try:
        with socket.create_connection((dst, request.port), timeout=5,
                                      source_address=(src, 0)) as raw:
            with client_context(pki, request.client).wrap_socket(
                    raw, server_hostname=sni) as tls:
                tls.sendall(f"GET / HTTP/1.1\r\nHost: {sni or request.host}\r\n"
                            "Connection: close\r\n\r\n".encode())
                _read(tls)
                return tls.session
    except OSError:
        return None


def sweep(case: Case) -> tuple[list[Request], list[Request]]:
    """Requests of clients without a valid certificate, and of the valid client. The source
    address (Cloudflare edge, direct, direct claiming another address) only matters to the
    access phase, which treats every certificate alike: it is varied for clients without a
    certificate and plain-HTTP clients; the certificate kinds come from a direct address."""
    others, valid = [], []
    sources = [("cf", ""), ("direct", "")] + [("direct", s) for s in case.spoofs]
    for host in case.hosts:
        for uri in case.uris:
            for method in case.methods:
                for port in case.tls_ports:
                    for sni in ("host", "none"):
                        others += [Request("none", src, sni, method, uri, host, port, spoof)
                                   for src, spoof in sources]
                        others += [Request(client, "direct", sni, method, uri, host, port)
                                   for client in NOT_VALID if client != "none"]
                for port in case.plain_ports:
                    others += [Request("plain", src, "host", method, uri, host, port, spoof)
                               for src, spoof in sources]
                others += [Request("plain", "direct", "host", method, uri, host, port)
                           for port in case.tls_ports]  # plain HTTP sent to a TLS port
            others += [Request("none", "direct", "host", MALFORMED, uri, host, port)
                       for port in case.tls_ports]
            valid.append(replace(case.valid, uri=uri, host=host).complete(case))
    others += [replace(r, ip="6") for r in others if r.port in case.ipv6_ports]
    return others, valid


def outcome_matches(outcome: dict, expected: str) -> bool:
    if expected == "content":
        return outcome["content"]
    if expected == "nocontent":
        return not outcome["content"]
    if expected == "closed":
        return outcome["status"] is None and not outcome["content"]
    return outcome["status"] == int(expected) and not outcome["content"]


# --------------------------------------------------------------------------- the namespace

def in_private_network(work) -> dict:
    """Run `work()` in a forked child inside a new network namespace; return its JSON."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        os.close(reader)
        status = 0
        try:
            os.setpgid(0, 0)
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.unshare(0x40000000) != 0:  # CLONE_NEWNET
                raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET)")
            for address in (ORIGIN, EDGE, DIRECT, *OTHER_DIRECT):
                subprocess.run(["ip", "addr", "add", f"{address}/32", "dev", "lo"],
                               check=True, timeout=10)
            for address in (ORIGIN6, *SOURCES6.values()):
                if address != "::1":
                    subprocess.run(["ip", "-6", "addr", "add", f"{address}/128", "dev", "lo",
                                    "nodad"], check=True, timeout=10)
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)
            result = work()
        except BaseException as e:  # reported to the parent, which fails the test
            result, status = {"error": f"{type(e).__name__}: {e}"}, 1
        with os.fdopen(writer, "w") as out:
            json.dump(result, out)
        os._exit(status)
    os.close(writer)
    chunks, deadline = [], time.monotonic() + CASE_TIMEOUT
    with os.fdopen(reader) as pipe:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([pipe], [], [], 1)
            if ready:
                chunk = pipe.read()
                chunks.append(chunk)
                break
        else:
            os.killpg(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    if not chunks:
        pytest.fail(f"the case did not finish within {CASE_TIMEOUT} s")
    return json.loads("".join(chunks))


def wait_for(address: str, ports: list[int]) -> None:
    """Until nginx accepts on every port at `address` (nginx.start waits for loopback ones)."""
    deadline = time.monotonic() + 10
    for port in ports:
        while time.monotonic() < deadline:
            try:
                socket.create_connection((address, port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.05)


def start_apps(ports: list[int]) -> list[ThreadingHTTPServer]:
    """The application behind each upstream port (FastCGI on 9000-9009); shut them down."""
    servers = []
    for port in ports:
        httpd = ThreadingHTTPServer(("127.0.0.1", port),
                                    FastCgiApp if port in FASTCGI_PORTS else App)
        threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True).start()
        servers.append(httpd)
    return servers


def run_case(case: Case, prefix: Path, pki: Path, binary: str | None = None,
             extra: tuple[Request, ...] = ()) -> dict:
    """The proofs, the sweep's requests (others, valid) and `extra` requests, sent to the
    case's nginx; each with its outcome."""
    nginx = prepare(case, prefix, pki, binary)
    checked = nginx.check()
    if checked.returncode != 0:
        return {"error": "nginx -t: " + checked.stderr}
    servers = start_apps(case.upstreams)
    others, valid = sweep(case)
    proofs = [(r.complete(case), expected) for r, expected in case.proofs]
    try:
        with nginx.start(case.loopback_ports):
            wait_for(ORIGIN, case.origin_ports)
            wait_for(ORIGIN6, case.ipv6_ports)
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                run = lambda requests: list(pool.map(lambda r: send(r, pki), requests))
                return {"proofs": [(str(r), e, o) for (r, e), o in
                                   zip(proofs, run([r for r, _ in proofs]))],
                        "others": [(str(r), o) for r, o in zip(others, run(others))],
                        "valid": [(str(r), o) for r, o in zip(valid, run(valid))],
                        "extra": run(list(extra))}
    finally:
        for httpd in servers:
            httpd.shutdown()


# --------------------------------------------------------------------------- the test

def test_corpus_is_large_enough():
    assert len(CASES) >= 20, f"{len(CASES)} cases under {FLOW}"
    labels = {load_case(c).label for c in CASES}
    assert labels == {"bypass", "held", "broken"}


@pytest.mark.parametrize("folder", CASES, ids=lambda p: p.name)
def test_nginx_gives_the_label(folder: Path, flow_pki: Path, tmp_path: Path):
    assert_label(load_case(folder), nginx_binary(), flow_pki, tmp_path)


@pytest.mark.parametrize("version", FLOW_VERSIONS)
@pytest.mark.parametrize("folder", CASES, ids=lambda p: p.name)
def test_upstream_nginx_gives_the_label(folder: Path, version: str, flow_pki: Path,
                                        tmp_path: Path):
    assert_label(load_case(folder), built_binary(version), flow_pki, tmp_path)


def assert_label(case: Case, binary: str, flow_pki: Path, tmp_path: Path) -> None:
    version = nginx_version(binary)
    if not case.holds_for(version):  # what `# versions:` claims: this nginx refuses the case
        checked = prepare(case, tmp_path / "nginx", flow_pki, binary).check()
        assert checked.returncode != 0, f"nginx {version} accepts a case for {case.versions}"
        return
    if not case.holds_for(version, case.label_versions):
        pytest.skip(f"the label is claimed for nginx {case.label_versions}, not {version}")
    if os.geteuid() != 0 or not shutil.which("ip"):
        skip_or_fail("the flow corpus runs nginx in a private network namespace: root and "
                     "iproute2 needed")
    result = in_private_network(lambda: run_case(case, tmp_path / "nginx", flow_pki, binary))
    assert "error" not in result, result.get("error")
    wrong = [f"{r} -> expected {e}, got {o['detail']}" for r, e, o in result["proofs"]
             if not outcome_matches(o, e)]
    assert not wrong, "\n".join(wrong)
    assert nginx_label(result) == case.label, label_summary(result)


def nginx_label(result: dict) -> str:
    """The label a sweep's result (run_case) gives: bypass, held or broken (of the proofs,
    only resumed sessions and otherdn clients count: the sweep sends none)."""
    resumed = [o for r, _, o in result.get("proofs", []) if (" resume=" in f" {r}"
               or "client=otherdn" in r) and "client=valid" not in r]
    if any(o["content"] for _, o in result["others"]) or any(o["content"] for o in resumed):
        return "bypass"
    return "held" if any(o["content"] for _, o in result["valid"]) else "broken"


def label_summary(result: dict) -> str:
    """Who got content: the evidence for nginx_label()."""
    leaks = [f"{r}: {o['detail']}" for r, o in result["others"] if o["content"]]
    served = [r for r, o in result["valid"] if o["content"]]
    return (f"{len(leaks)} of {len(result['others'])} requests without a valid certificate "
            f"got content, e.g.\n  " + "\n  ".join(leaks[:8])
            + f"\nthe valid client got content on {len(served)} of {len(result['valid'])}"
            f" URIs")
