"""The values a request's variables take on one server: the client's own, the certificate's,
`map`s, `geo`s and regex captures; and the truth of an `if` condition over them.

A value is a string, or ATTACKER (the client chooses it), UNKNOWN (the configuration does not
tell) or EXPECTED (what the valid client's certificate holds)."""

from __future__ import annotations

import ipaddress
import posixpath
import re
from dataclasses import replace
from typing import Iterator

from ..cloudflare import is_cloudflare_range
from ..model import Server
from ..parser import Stmt
from ..records import Geo, VariableMap
from .. import catalogue, pcre
from ..parser import Stmt
from ..records import walk
from .values import (Unmodelled, ATTACKER, CANNOT_RUN, CLOUDFLARE_ADDRESS, DIRECT_ADDRESS, EXPECTED,
                     SPOOFED, UNKNOWN, VARIABLE, VISITOR_ADDRESS, Client, State, Value)

QUERY = re.compile(r"\$(args|query_string|is_args|\{(args|query_string|is_args)\})")
RAW_URI = re.compile(r"\$(request_uri|\{request_uri\})")
EXACT_NAME = re.compile(r"[\w.-]+")
DNS_NAME = re.compile(r"(?:[a-z0-9-]{1,63}\.)+[a-z]{2,63}", re.I)


CLIENT_CHOSEN = ("client-raw", "client-normalised")
FILE_TESTS = ("-f", "!-f", "-d", "!-d", "-e", "!-e", "-x", "!-x")
# Directives of modules whose code computes a variable (the analysis runs none of it).
VARIABLE_DEFINERS = frozenset(("perl_set", "js_set", "split_clients", "set_by_lua",
                               "set_by_lua_block", "set_by_lua_file", "secure_link",
                               "secure_link_md5", "set_secure_link"))


class Evaluator:
    """Values for requests to one server. The phase loop sets `client`, `tls` and `probing`
    for each request it runs."""

    def __init__(self, server: Server, maps: dict[str, VariableMap],
                 geos: dict[str, Geo], issuers: frozenset[str]):
        self.server = server
        # The names (RFC 2253, as $ssl_client_i_dn shows them) of the CAs that may issue the
        # valid client's certificate, when the CA files tell.
        self.issuers = issuers
        self.maps = maps
        self.geos = geos
        self.names = [n for n in server.names if n and n != "_"]
        # $host is the name the client sends: one of the server's names, or any name at all
        # for the default server of a port.
        self.host_chosen = len(set(self.names)) > 1 or any(
            not EXACT_NAME.fullmatch(n) for n in self.names) or _is_default(server)
        self.client = Client("probe", "SUCCESS")
        self.tls = True
        # Whether the request's answer read where the client connects from (its address,
        # CF-Connecting-IP): if not, it is the same directly and through Cloudflare.
        self.address_read = True
        self.probing = False  # every check taken both ways: can anything be served?
        self._evaluating: set[str] = set()  # the maps being evaluated (a cycle is a 500)
        self._definitions: dict[str, Stmt] | None = None

    def condition(self, args: list[str], state: State) -> tuple[object, str]:
        """True, False, ATTACKER (the client decides) or UNKNOWN; and why, for a fork (an
        Unmodelled reason when the analysis cannot tell: "cannot prove")."""
        if self.probing:
            return UNKNOWN, "any request"
        if not args:
            return UNKNOWN, Unmodelled("an empty condition")
        if args[0] in FILE_TESTS:
            return UNKNOWN, Unmodelled(f"`if ({' '.join(args)})` tests the file system, "
                                       "which the analysis does not see", args[0].lstrip("!"))
        if len(args) == 3 and RAW_URI.fullmatch(args[0]):
            truths = {self.condition([raw] + args[1:], state)[0]
                      for raw in raw_uris(state.uri, args[2:])}
            if len(truths) > 1:
                return ATTACKER, f"the client chooses how to write the URI ({args[0]})"
            return truths.pop(), ""
        value = self.tested(args[0], state)
        chosen = SPOOFED if self.forged(args[0], state) else f"the client chooses {args[0]}"
        if len(args) == 1:
            if isinstance(value, str):
                return value not in ("", "0"), ""
            if value is EXPECTED:
                return True, ""
            return (ATTACKER, chosen) if value is ATTACKER else (
                UNKNOWN, self.unknown_reason(args[0], state))
        if len(args) != 3:
            return UNKNOWN, Unmodelled(f"the condition `{' '.join(args)}`", "if")
        op, operand = args[1], self.interpolate(args[2], state)
        if not isinstance(operand, str):
            return UNKNOWN, self.unknown_reason(args[2], state)
        if op in ("=", "!="):
            truth, why = _equals(args[0], value, operand, op.startswith("!"), chosen)
        elif op in ("~", "~*", "!~", "!~*"):
            truth, why = _matches(args[0], value, operand, op, chosen)
        else:
            return UNKNOWN, Unmodelled(f"the operator {op}", "if")
        if truth is UNKNOWN and value is UNKNOWN:
            why = self.unknown_reason(args[0], state)
        return truth, why

    def unknown_reason(self, text: str, state: State, depth: int = 0) -> str:
        """Why a value the configuration computes from `text` is not known: the first variable
        in it whose value is not known, and where it comes from (Unmodelled when that is
        something the analysis does not model)."""
        for match in VARIABLE.finditer(text):
            name = match.group(1) or match.group(2)
            if self.variable(name, state) is UNKNOWN:
                return self._unknown_variable(name, state, depth)
        return f"`{text}`, a value the analysis does not know"

    def _unknown_variable(self, name: str, state: State, depth: int) -> str:
        key = "$" + name
        if name in state.variables:
            return f"${name}, set from a value the analysis does not know"
        if key in self.maps and depth < 5:
            source = self.maps[key].source
            inner = self.unknown_reason(source, state, depth + 1)
            text = f"${name} (a map of {source}: {inner})"
            return Unmodelled(text, inner.construct, origin=inner.origin) \
                if isinstance(inner, Unmodelled) else text
        if key in self.geos:
            return f"${name} (a geo with no value for the address)"
        if name.isdigit():
            return Unmodelled(f"${name}, a regex capture the analysis does not track",
                              "regex capture")
        definer = self.module_definitions().get(name)
        if definer is not None:
            return Unmodelled(f"${name}, set by `{definer.name}` (a module the analysis does "
                              "not run)", definer.name, origin=definer)
        kind = catalogue.classify(name)
        if self.client.kind == "valid" or kind in CLIENT_CHOSEN + ("certificate",):
            return f"${name} for {self.client.label}"
        origin = "a variable of no module nginx ships" if kind == "unknown" else \
            f"nginx computes it from the {kind}"
        return Unmodelled(f"${name} ({origin}: the analysis does not model its value)",
                          "$" + name)

    def module_definitions(self) -> dict[str, Stmt]:
        """Variables that modules' directives define (perl_set, js_set, split_clients,
        set_by_lua*, ...): name -> the directive, for saying where a value comes from."""
        if self._definitions is None:
            http = self.server.http
            found: dict[str, Stmt] = {}
            candidates = [s for name in VARIABLE_DEFINERS for s in http.all(name)]
            candidates += [s for s in http.blocks if s.name in VARIABLE_DEFINERS]
            candidates += [s for s in walk(self.server.stmt.block) if s.name in VARIABLE_DEFINERS]
            for stmt in candidates:
                if stmt.name.startswith("secure_link"):
                    found.setdefault("secure_link", stmt)
                    continue
                index = 1 if stmt.name == "split_clients" else 0
                if len(stmt.args) > index and stmt.args[index].startswith("$"):
                    found.setdefault(stmt.args[index][1:], stmt)
            self._definitions = found
        return self._definitions

    def capture(self, args: list[str], state: State, matched: bool) -> None:
        """A regex condition that matched sets $1..$9 and its named groups for the directives
        after it (ngx_http_regex_exec); one that did not match leaves them as they were."""
        if not matched or len(args) != 3 or "~" not in args[1]:
            return
        compiled = pcre.compile(args[2], ignore_case="*" in args[1])
        if compiled is None:
            return
        value = self.interpolate(args[0], state)
        try:
            match = compiled.search(value) if isinstance(value, str) else None
        except pcre.Undecidable:
            match = None  # what it captured is unknown
        if match is not None:
            state.variables.update(groups(match))
            return
        # the client's chosen value, or the valid certificate's: a part of it
        part = value if value is ATTACKER or value is EXPECTED else UNKNOWN
        for name in [str(i) for i in range(compiled.groups + 1)] + list(compiled.groupindex):
            state.variables[name] = part

    def tested(self, text: str, state: State) -> Value:
        """The value an `if` or a `map` tests. The query string is the client's to write
        (elsewhere, as in `/index.php?$args`, the simulated request has none)."""
        if QUERY.fullmatch(text):
            return ATTACKER
        return self.interpolate(text, state)

    def forged(self, text: str, state: State) -> bool:
        """Whether this value is the client's forged address (realip trusting it), or a
        `geo` on it. (Only realip makes the address the client's, and it reads the connection's:
        this alone does not make the answer depend on the address.)"""
        if state.remote_addr is not ATTACKER:
            return False
        names = {m.group(1) or m.group(2) for m in VARIABLE.finditer(text)}
        return "remote_addr" in names or any(
            "$" + n in self.geos and self.geos["$" + n].source == "$remote_addr"
            for n in names)

    def interpolate(self, text: str, state: State) -> Value:
        if "$" not in text:
            return text
        parts: list[str] = []
        position = 0
        special: Value | None = None
        for match in VARIABLE.finditer(text):
            parts.append(text[position:match.start()])
            position = match.end()
            value = self.variable(match.group(1) or match.group(2), state)
            if isinstance(value, str):
                parts.append(value)
            elif value is UNKNOWN or special is None:
                special = value
        parts.append(text[position:])
        if special is not None:
            # A whole-value variable keeps its meaning; inside a string only "unknown" is safe
            # (the client's choice still shows as a client choice).
            if VARIABLE.fullmatch(text):
                return special
            return special if special is not EXPECTED else UNKNOWN
        return "".join(parts)

    def variable(self, name: str, state: State) -> Value:
        if name in state.variables:
            return state.variables[name]
        key = "$" + name
        if key in self.maps:
            return self._cached_map(name, key, state)
        if key in self.geos:
            return self._geo(self.geos[key], state)
        if name.isdigit():
            return UNKNOWN  # a regex capture from a condition we do not track
        if name == "ssl_client_verify":
            return self.client.verify
        if name.startswith("ssl_client_"):
            return self._certificate_variable(name[len("ssl_client_"):])
        if name.startswith(("http_", "cookie_", "arg_", "sent_http_")) and name != "http_host":
            return self._header(name)
        return self._request_variable(name, state)

    def _request_variable(self, name: str, state: State) -> Value:
        """The request line's, the connection's and the server's own variables."""
        if name in ("uri", "document_uri"):
            return state.uri
        if name == "request_uri":
            return state.uri
        if name in ("args", "query_string", "is_args"):
            return ""
        if name == "request_method":
            return state.method
        if name == "scheme":
            return "https" if self.tls else "http"
        if name == "https":
            return "on" if self.tls else ""
        if name in ("host", "http_host") and self.host_chosen:
            return ATTACKER
        if name == "ssl_server_name":
            return self._sni()
        if name in ("host", "http_host", "server_name"):
            # nginx lowercases server names (ngx_http_core_server_name) and $host; a browser
            # and Cloudflare send the name in lower case
            return self.names[0].lower() if self.names else UNKNOWN
        if name == "remote_addr" or name == "binary_remote_addr":
            self.address_read = True
            return state.remote_addr
        if name == "realip_remote_addr":
            return self.connection_address()
        if name == "server_port":
            return self._server_port()
        return self._by_class(name)

    def _server_port(self) -> Value:
        """$server_port: the port of the listener the client connected to (TLS ones for a
        TLS request): the client picks it among several."""
        server = self.server
        sockets = server.tls_on if self.tls else \
            [listen.socket for listen in server.listens if listen.socket not in server.tls_on]
        ports = {socket.rsplit(":", 1)[-1] for socket in sockets if not socket.startswith("unix:")}
        if len(ports) == 1:
            return ports.pop()
        return ATTACKER if ports and self.client.kind != "valid" else UNKNOWN

    def _sni(self) -> Value:
        """$ssl_server_name: the SNI the client sent. A client of this server picks any name
        the server answers (any name at all on a default server, any match of a wildcard or
        regex name); the valid client sends the site's name, unknown unless it is exact."""
        if self.tls and self.client.sni is not None:
            return self.client.sni
        if not self.tls or self.client.kind == "other-ca":
            return ""
        if self.client.kind != "valid" and self.host_chosen:
            return ATTACKER
        if self.names and EXACT_NAME.fullmatch(self.names[0]):
            return self.names[0].lower()  # as the valid client (Cloudflare) sends it
        return UNKNOWN

    def _by_class(self, name: str) -> Value:
        """Any other variable, by its class in the catalogue read from nginx's sources: the
        client writes one it chooses (raw or normalised by nginx), except the valid client,
        whose choice is unknown; the rest is unknown, and a decision on it cannot be proved."""
        if self.client.kind != "valid" and catalogue.classify(name) in CLIENT_CHOSEN:
            return ATTACKER
        return UNKNOWN

    def _header(self, name: str) -> Value:
        """A request header, cookie or argument: the client's to write, except what
        Cloudflare's edge sets."""
        client = self.client
        for header, value in client.headers:
            if name == "http_" + header.lower().replace("-", "_"):
                return value
        if client.kind == "valid":
            if name == "http_cf_connecting_ip":  # Cloudflare's edge and cloudflared
                return VISITOR_ADDRESS
            if name == "http_cf_ray":
                return "8f0e1d2c3b4a5968-AMS"
            return UNKNOWN
        if name == "http_cf_connecting_ip":
            self.address_read = True
            if client.via_cloudflare:
                return VISITOR_ADDRESS
        return ATTACKER

    def connection_address(self) -> Value:
        """The address the TCP connection comes from (before realip)."""
        self.address_read = True
        client = self.client
        if client.tunnel:
            return "127.0.0.1"  # cloudflared on this host
        if client.via_cloudflare:
            return CLOUDFLARE_ADDRESS
        if client.kind in ("valid", "probe"):
            return UNKNOWN  # a client of an internal CA may come from anywhere
        return DIRECT_ADDRESS

    def _certificate_variable(self, name: str) -> Value:
        client = self.client
        if client.kind in ("none", "plain"):
            return ""
        if client.kind == "valid":
            if name == "i_dn" and len(self.issuers) == 1:
                return next(iter(self.issuers))
            return EXPECTED
        if name in ("cert", "escaped_cert", "raw_cert"):
            return "-----BEGIN CERTIFICATE-----"
        if name == "fingerprint":
            return "0" * 40  # not the pinned one
        if name == "i_dn" and client.kind == "other-ca":
            return "CN=another CA"
        if name in ("s_dn", "i_dn", "s_dn_legacy", "i_dn_legacy", "serial"):
            return ATTACKER  # a self-signed certificate, or another CA's, names anything
        return UNKNOWN

    def _cached_map(self, name: str, key: str, state: State) -> Value:
        """A map's value, kept for the rest of the request as nginx keeps it (unless
        `volatile`): a chain of maps is evaluated once per link, not once per reference."""
        if key in self._evaluating:  # nginx: "cycle while evaluating variable", a 500
            return UNKNOWN
        self._evaluating.add(key)
        try:
            value = self._map(key, state)
        finally:
            self._evaluating.discard(key)
        if not self.maps[key].volatile:
            state.variables[name] = value
        return value

    def _map(self, key: str, state: State) -> Value:
        variable_map = self.maps[key]
        if RAW_URI.fullmatch(variable_map.source):
            return self._raw_uri_map(variable_map, state)
        source = self.tested(variable_map.source, state)
        if isinstance(source, str):
            found, match = variable_map.lookup_match(source)
            if found is None:
                return UNKNOWN
            if match is not None:  # the value may name the key's captures ($1, $name)
                state = replace(state, variables={**state.variables, **groups(match)})
            return self.interpolate(found, state)
        if source is EXPECTED and variable_map.source == "$ssl_client_verify":
            found = variable_map.lookup("SUCCESS")  # what the valid client's value maps to
            return UNKNOWN if found is None else self.interpolate(found, state)
        if source is EXPECTED:
            return UNKNOWN
        return source

    def _raw_uri_map(self, variable_map: VariableMap, state: State) -> Value:
        """A map of $request_uri: the client writes the request line, so it picks among the
        values of the keys its URI can be written to match (stops at the second value)."""
        memo = variable_map.by_uri  # the choice depends on the URI only: once per map and URI
        if state.uri not in memo:
            memo[state.uri] = _raw_uri_choice(variable_map, state.uri)
        choice = memo[state.uri]
        return self.interpolate(choice, state) if isinstance(choice, str) else choice

    def _geo(self, geo: Geo, state: State) -> Value:
        self.address_read |= geo.source == "$remote_addr"
        address = state.remote_addr if geo.source == "$remote_addr" else \
            self.interpolate(geo.source, state)
        if not isinstance(address, str):
            return address if address is not EXPECTED else UNKNOWN
        found = geo.lookup(address)
        return UNKNOWN if found is None else found


def _equals(tested: str, value: Value, operand: str, negate: bool,
            chosen: str) -> tuple[object, str]:
    """`if ($x = text)` and `!=`."""
    if isinstance(value, str):
        return (value == operand) != negate, ""
    if (value is EXPECTED or value is ATTACKER) and operand.startswith("/") \
            and tested in ("$ssl_client_s_dn", "$ssl_client_i_dn"):
        # nginx writes these as RFC 2253 (CN=...), never /CN=..., whatever names a
        # client's certificate holds
        return negate, ""
    if value is EXPECTED:  # non-empty, and what the configuration pins
        return (operand != "") != negate, ""
    if value is ATTACKER and not _looks_secret(operand):
        return ATTACKER, chosen
    return UNKNOWN, f"{tested} is not known"


def _matches(tested: str, value: Value, operand: str, op: str,
             chosen: str) -> tuple[object, str]:
    """`if ($x ~ regex)`, `~*`, `!~`, `!~*`."""
    negate = op.startswith("!")
    compiled = pcre.compile(operand, ignore_case="*" in op)
    if compiled is None:
        return UNKNOWN, Unmodelled(f"{CANNOT_RUN} {operand!r}: {pcre.unsupported(operand)}",
                                   "regex")
    if isinstance(value, str):
        try:
            return (compiled.search(value) is not None) != negate, ""
        except pcre.Undecidable as error:
            return UNKNOWN, Unmodelled(f"{CANNOT_RUN} {operand!r} on {value[:80]!r}: {error}",
                                       "regex")
    if value is EXPECTED and tested in DN_VARIABLES and not_rfc2253(operand):
        return negate, ""  # the valid client's names, as nginx writes them, never match
    if value is EXPECTED:  # a test for emptiness fails, a pin matches
        return (compiled.fullmatch("") is None) != negate, ""
    if value is ATTACKER:
        return ATTACKER, chosen
    return UNKNOWN, f"{tested} is not known"


DN_VARIABLES = ("$ssl_client_s_dn", "$ssl_client_i_dn")
# A name written as OpenSSL displays it ("CN = x", "CN=x, O=y") or in the legacy form
# ("/CN=x/O=y"): nginx writes $ssl_client_s_dn as RFC 2253 (`CN=x,O=y`: no space around `=`
# or after the `,` between attributes, which are never separated by `/`).
DISPLAY_FORMAT = re.compile(r"\w \s*=|=\s|[^\\],\s+\w+\s*=|(^\^?|/)/?[A-Z]{1,2}=[^/]*/[A-Za-z]+=|^\^?/[A-Z]{1,2}=")


def not_rfc2253(pattern: str) -> bool:
    """Whether a regex on $ssl_client_s_dn/_i_dn is written in a form the names of an
    ordinary certificate (no `, X=` or ` = ` inside a value) never take in RFC 2253."""
    return DISPLAY_FORMAT.search(pattern) is not None


def _raw_uri_choice(variable_map: VariableMap, uri: str) -> Value:
    """The value a client gets from a map of $request_uri for `uri`: the one value every way
    of writing it gives, ATTACKER when it can pick between two, UNKNOWN when undecided."""
    keys = list(variable_map.exact) + [p for p, _, _ in variable_map.regexes]
    found_values: set[str] = set()
    for raw in raw_uris(uri, keys):
        found = variable_map.lookup(raw)
        if found is None:
            return UNKNOWN
        found_values.add(found)
        if len(found_values) > 1:
            return ATTACKER
    return found_values.pop() if found_values else UNKNOWN


def raw_uris(uri: str, patterns: list[str]) -> Iterator[str]:
    """What the client can write in the request line ($request_uri) for a request that
    nginx normalizes to `uri`: the URI itself, with `/.` in front, a string each pattern
    names, and one each regex matches followed by `/..` back to the URI (nginx resolves
    dot segments before it chooses a location; $request_uri keeps them). Made as they are
    asked for: a map stops at its second value."""
    wanted = posixpath.normpath(uri)
    seen: set[str] = set()
    for raw in _raw_candidates(uri, patterns):
        if raw not in seen:
            seen.add(raw)
            if posixpath.normpath(raw) == wanted:
                yield raw


def _raw_candidates(uri: str, patterns: list[str]) -> Iterator[str]:
    yield uri
    yield "/." + uri
    for pattern in patterns:
        start = pattern if pattern.startswith("/") and "\\" not in pattern else \
            pcre.example(pattern)
        if start:
            start = start.split("?", 1)[0]
            yield start
            yield start.rstrip("/") + "/.." * start.strip("/").count("/") + "/.." + uri


def groups(match: pcre.Match) -> dict[str, Value]:
    """$0..$9 and the named captures of a regex match."""
    found: dict[str, Value] = {str(i): match.group(i) or ""
                               for i in range(len(match.groups()) + 1)}
    found.update((name, value or "") for name, value in match.groupdict().items())
    return found


def negated(args: list[str]) -> bool:
    return len(args) == 3 and args[1].startswith("!")


def _looks_secret(operand: str) -> bool:
    """A long literal compared with a header is a shared secret the client does not know (a
    host name, as a certificate or a Host header carries it, is not)."""
    return len(operand) >= 16 and not operand.startswith(("CN=", "/", "http")) \
        and not DNS_NAME.fullmatch(operand)


def _is_default(server: Server) -> bool:
    """Whether the server is the default server of one of its ports (as far as the
    configuration tells: a fragment linted alone may have others loaded before it)."""
    config = getattr(server, "config", None)
    if config is None:
        return False
    return any(config.known_default(config.sockets[listen.socket]) is server
               for listen in server.listens if listen.socket in config.sockets)


def in_network(address: str, network: str) -> bool:
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False


# Addresses a direct client on the internet cannot connect from.
PRIVATE = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16",
    "100.64.0.0/10", "::1/128", "fc00::/7", "fe80::/10"))


def reachable_from_outside(network: str) -> bool:
    """A `set_real_ip_from` range holding addresses a direct client can connect from: not
    private, not Cloudflare's (Cloudflare writes the header itself), not a unix socket."""
    if network.startswith("unix:"):
        return False
    try:
        parsed = ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False
    if is_cloudflare_range(network):
        return False
    return not any(parsed.version == p.version and parsed.subnet_of(p)  # type: ignore[arg-type]
                   for p in PRIVATE)


def trusted_from(connection: Value, ranges: list[Stmt]) -> Stmt | None:
    """The `set_real_ip_from` that lets realip take a connection's address from the header
    (ngx_http_realip / ngx_stream_realip), or None. The direct client stands for any address
    on the internet: it connects from whichever a range reachable from outside holds."""
    if not isinstance(connection, str):
        return None
    return next((s for s in ranges if s.args and (
        in_network(connection, s.args[0]) or connection == DIRECT_ADDRESS
        and reachable_from_outside(s.args[0]))), None)
