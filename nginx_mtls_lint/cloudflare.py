"""Cloudflare facts and the detection of Cloudflare-fronted servers, with the signals seen."""

from __future__ import annotations

import fnmatch
import ipaddress
import os
import re
from dataclasses import dataclass, field

from .cafile import CAStore
# Signal and Detection are re-exported: plugins imported them from here.
from .model import Detection, Model, Scope, Signal, TlsServer, walk

# SHA-256 over DER, from Cloudflare's published files (see rules/ for sources).
AOP_CA = "9A1AC2B4BE15F9F27EEE20A734CBA4E9898F61001B3BD7C84B69B56A3E25A2B9"
AOP_CA_2015 = "062465EEA14401F48BE7D9A873F2EE674F96806584225D50C04F761D4480B8BA"
AOP_CAS = {
    AOP_CA: "the Cloudflare origin-pull CA (CN=origin-pull.cloudflare.net, valid to 2029-11-01)",
    AOP_CA_2015: "the 2015 issue of the Cloudflare origin-pull CA (expired 2020-01-12)",
}
ORIGIN_CA_ROOTS = {
    "D3C7E85C91707FC0A12ABC5D88266747AA4FA8E7B162F633FFB3C9D989947620":
        "the Cloudflare Origin CA RSA root",
    "AA63697A22764B67B2134CE14CB5690EA336940B93986113F49545917832D80D":
        "the Cloudflare Origin CA ECC root",
    "916CEEC3F37B17CD75DBF403446E706B78016FCBFB5851C269B695F3D03DA48B":
        "the Cloudflare Origin CA RSA root (2014 issue, expired 2019)",
    "B8F86D0D3F140D2F745BDFDC3D1B1B6CDD0E243A0E4847EC46F3D58005253220":
        "the Cloudflare Origin CA ECC root (2016 issue, expired 2021)",
}
# https://www.cloudflare.com/ips-v4 and ips-v6 (unchanged since at least 2022-09).
CLOUDFLARE_RANGES = tuple(ipaddress.ip_network(n) for n in (
    "173.245.48.0/20", "103.21.244.0/22", "103.22.200.0/22", "103.31.4.0/22",
    "141.101.64.0/18", "108.162.192.0/18", "190.93.240.0/20", "188.114.96.0/20",
    "197.234.240.0/22", "198.41.128.0/17", "162.158.0.0/15", "104.16.0.0/13",
    "104.24.0.0/14", "172.64.0.0/13", "131.0.72.0/22",
    "2400:cb00::/32", "2606:4700::/32", "2803:f800::/32", "2405:b500::/32",
    "2405:8100::/32", "2a06:98c0::/29", "2c0f:f248::/32",
))
# Request headers only Cloudflare sets: CF-Connecting-IP, CF-Ray, CF-IPCountry, CF-Visitor, ...
CF_VARIABLES = re.compile(r"\$\{?http_cf_[a-z0-9_]+", re.IGNORECASE)
CA_FILE_NAME = re.compile(r"cloudflare|origin[-_]?pull", re.IGNORECASE)
ANNOTATION = re.compile(r"^\s*nginx-mtls-lint\s*:\s*(not-cloudflare|cloudflare)\s*$", re.IGNORECASE)


@dataclass(slots=True)
class CloudflareOptions:
    host_patterns: list[str] = field(default_factory=list)
    assume: bool = False
    exclude_patterns: list[str] = field(default_factory=list)  # never Cloudflare-fronted


def is_cloudflare_range(text: str) -> bool:
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return any(network.version == cf.version and network.subnet_of(cf)  # type: ignore[arg-type]
               for cf in CLOUDFLARE_RANGES)


def matching_name(server: TlsServer, pattern: str) -> str | None:
    return next((n for n in server.names
                 if n and fnmatch.fnmatchcase(n.lower(), pattern.lower())), None)


LOCAL_SUFFIXES = (".local", ".internal", ".localhost", ".lan", ".home.arpa")


def local_name(name: str) -> bool:
    """A name no public DNS resolves (so Cloudflare cannot front it): localhost, *.local,
    *.internal, *.localhost, an address."""
    name = name.lower().rstrip(".").strip("[]")
    if name == "localhost" or name.endswith(LOCAL_SUFFIXES):
        return True
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


def local_site(server: TlsServer) -> bool:
    """Every name the server has is local (a server with no name, or `_`, is not), and it
    listens where other hosts reach it: a loopback-only server is a Cloudflare Tunnel's
    origin, which is what an http-level Cloudflare signal means for it."""
    names = [n for n in server.names if n]
    return bool(names) and all(local_name(n) for n in names) and \
        any(server.config.exposed(listen.socket) for listen in server.listens)


def _option_signals(server: TlsServer, options: CloudflareOptions) -> list[Signal]:
    """--cloudflare-host patterns the server's names match, and --assume-cloudflare."""
    found = []
    for pattern in options.host_patterns:
        hit = matching_name(server, pattern)
        if hit:
            found.append(Signal("cli", f"server_name {hit} matches the host pattern {pattern}"))
    if options.assume:
        found.append(Signal("cli", "--assume-cloudflare"))
    return found


def own_signals(server: TlsServer, signals: list[Signal]) -> list[Signal]:
    """The signals written in the server itself (not inherited from http {})."""
    own = {(s.file, s.line) for s in walk(server.stmt.block or [])}
    return [s for s in signals
            if not s.inherited and (s.file, s.line) in own or s.kind == "annotation"]


def detect_server(server: TlsServer, cas: CAStore, options: CloudflareOptions) -> Detection:
    detection = Detection()
    signals = detection.signals
    for pattern in options.exclude_patterns:
        hit = matching_name(server, pattern)
        if hit:
            detection.overridden_by = Signal(
                "cli", f"server_name {hit} matches the excluded host pattern {pattern}")
            return detection
    for comment in server.scope.comments:
        match = ANNOTATION.match(comment.comment or "")
        if match and match.group(1).lower() == "not-cloudflare":
            detection.overridden_by = Signal("annotation", "`# nginx-mtls-lint: not-cloudflare`",
                                             comment.file, comment.line)
            return detection
        if match:
            signals.append(Signal("annotation", "`# nginx-mtls-lint: cloudflare`",
                                  comment.file, comment.line))
    for name, setting in server.client_ca_settings():
        path = server.tree.resolve(setting.value)  # never a file of this machine's instead
        ca = cas.not_here(path) if server.tree.elsewhere(setting.value) else cas.inspect(path)
        for fingerprint in ca.fingerprints & AOP_CAS.keys():
            signals.append(Signal("aop-ca", f"{name} holds {AOP_CAS[fingerprint]}",
                                  setting.stmt.file, setting.stmt.line, setting.inherited))
        # The Origin CA root in a client CA file is the classic mix-up with the origin-pull
        # CA: the intent to sit behind Cloudflare is plain.
        for fingerprint in ca.fingerprints & ORIGIN_CA_ROOTS.keys():
            signals.append(Signal("origin-ca", f"{name} holds {ORIGIN_CA_ROOTS[fingerprint]}",
                                  setting.stmt.file, setting.stmt.line, setting.inherited))
        # A CA file we cannot read (not in this checkout) still tells by its name.
        if not ca.certs and CA_FILE_NAME.search(os.path.basename(setting.value)):
            signals.append(Signal("ca-file-name", f"{name} {setting.value} is named for "
                                  "Cloudflare", setting.stmt.file, setting.stmt.line,
                                  setting.inherited))
    header = server.setting("real_ip_header")
    if header is not None and header.value.lower() == "cf-connecting-ip":
        signals.append(Signal("real-ip-header", "real_ip_header CF-Connecting-IP",
                              header.stmt.file, header.stmt.line, header.inherited))
    for setting in server.settings("set_real_ip_from"):
        if is_cloudflare_range(setting.value):
            signals.append(Signal("set-real-ip-from",
                                  f"set_real_ip_from {setting.value} (a Cloudflare range)",
                                  setting.stmt.file, setting.stmt.line, setting.inherited))
            break  # one range is evidence enough; listing all 22 helps nobody
    signals.extend(_usage_signals(server))
    if local_site(server):  # http-level signals speak for the public sites, not this one
        signals[:] = own_signals(server, signals)
    signals.extend(_option_signals(server, options))
    detection.fronted = bool(signals)
    return detection


def _http_names(http: Scope) -> tuple[set[str], set[str]]:
    """The log formats of http {} that log Cloudflare headers, and the variables its maps and
    geos compute from one; once per http {} (its servers share them)."""
    cached = getattr(http, "_cloudflare_names", None)
    if cached is None:
        formats = {s.args[0] for s in http.all("log_format") if s.args and any(
            "cf_" in a and CF_VARIABLES.search(a) for a in s.args[1:])}
        variables = {name for name, m in http.maps().items() if CF_VARIABLES.search(m.source)}
        variables |= {name for name, geo in http.geos().items()  # `geo $http_cf_ip $x {}`
                      if CF_VARIABLES.search(geo.source)}
        cached = http._cloudflare_names = (formats, variables)  # type: ignore[attr-defined]
    return cached


def _usage_signals(server: TlsServer) -> list[Signal]:
    """Signals in what the server does: Cloudflare headers read (an `if` on one is also a
    guard that holds nothing), an allow-list of Cloudflare ranges, a Cloudflare log format,
    a map over a Cloudflare header whose result it reads."""
    found: dict[str, Signal] = {}
    http = server.http
    cf_formats, cf_maps = _http_names(http)
    stmts = list(walk(server.stmt.block))
    for stmt in http.all("allow") + http.all("access_log") + stmts:
        if stmt.name == "#":
            continue
        text = " ".join(a if a and " " not in a else f'"{a}"' for a in stmt.args)
        if "cf_" in text and CF_VARIABLES.search(text):
            variable = CF_VARIABLES.search(text).group(0)  # type: ignore[union-attr]
            if stmt.name == "if":
                found.setdefault("cf-header-check", Signal(
                    "cf-header-check", f"`if ({text})` tests {variable}", stmt.file, stmt.line))
            found.setdefault("cf-variable", Signal("cf-variable", f"{stmt.name} uses {variable}",
                                                   stmt.file, stmt.line))
        elif stmt.name == "allow" and stmt.args and is_cloudflare_range(stmt.args[0]):
            found.setdefault("allow-cloudflare", Signal(
                "allow-cloudflare", f"allow {stmt.args[0]} (a Cloudflare range)",
                stmt.file, stmt.line))
        elif stmt.name == "access_log" and len(stmt.args) > 1 and stmt.args[1] in cf_formats:
            found.setdefault("cf-log-format", Signal(
                "cf-log-format", f"access_log with log format {stmt.args[1]}, which logs "
                "Cloudflare headers", stmt.file, stmt.line))
        elif cf_maps and any(m in text for m in cf_maps):
            name = next(m for m in cf_maps if m in text)
            found.setdefault("cf-map", Signal(
                "cf-map", f"{stmt.name} reads {name}, a map or geo over a Cloudflare header",
                stmt.file, stmt.line))
    return list(found.values())


def detect(model: Model, cas: CAStore, options: CloudflareOptions) -> None:
    for server in model.tls_servers:
        server.cloudflare = detect_server(server, cas, options)
