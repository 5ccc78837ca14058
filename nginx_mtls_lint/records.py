"""The records of the model: one per kind of directive nginx reads, parsed once from the
statements (a setting with the level it came from, `map`, `listen`, `location`, `error_page`,
`if` handlers, client verification), and the scope lookups every server and location share.
model.py builds servers, sockets and configurations from them."""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any, Iterator

from . import pcre
from .parser import Source, Stmt
from .verify import VerifyMode


VARIABLE_NAME = re.compile(r"\$\{?\w+")
CLIENT_CA_DIRECTIVES = ("ssl_client_certificate", "ssl_trusted_certificate")
# Modes that let a client without a valid certificate past the handshake (verify.VerifyMode).
LET_THROUGH = tuple(mode.value for mode in VerifyMode if mode.lets_unverified_in)
VERIFY_VARIABLE = "$ssl_client_verify"
# OpenResty's handlers of the rewrite and access phases: Lua code the linter does not run.
# One handler per phase: a level that sets any form replaces its parent's.
LUA_PHASES = (("server_rewrite_by_lua_block", "server_rewrite_by_lua_file"),
              ("rewrite_by_lua", "rewrite_by_lua_block", "rewrite_by_lua_file"),
              ("access_by_lua", "access_by_lua_block", "access_by_lua_file"))
LUA_CHECKS = frozenset(name for phase in LUA_PHASES for name in phase)


def lua_may_check(stmt: Stmt) -> bool:
    """Whether a Lua handler may refuse by the client certificate: its code reads one
    (`ngx.var.ssl_client_verify`, ...), or lives in a file the linter does not read."""
    return stmt.name in LUA_CHECKS and (stmt.name.endswith("_file") or any(
        "ssl_client" in arg for arg in stmt.args))


def flatten(stmts: list[Stmt] | None) -> Iterator[Stmt]:
    """The statements of one block level, with `include`d statements in their place."""
    for stmt in stmts or ():
        if stmt.name == "include":
            yield from flatten(stmt.included)
        else:
            yield stmt


def walk(stmts: list[Stmt] | None) -> Iterator[Stmt]:
    """Every statement below a block, through nested blocks and includes."""
    for stmt in flatten(stmts):
        yield stmt
        if stmt.block is not None:
            yield from walk(stmt.block)


@dataclass(slots=True)
class Setting:
    """An effective directive: the statement that set it and whether it came from http {}."""

    stmt: Stmt
    inherited: bool
    context: str = "http"  # the block it is inherited from: http or stream

    @property
    def value(self) -> str:
        return self.stmt.args[0] if self.stmt.args else ""

    @property
    def source(self) -> Source:
        """Where the user wrote it (file, line, columns; the text through Source.text)."""
        return self.stmt.source


@dataclass(slots=True)
class Signal:
    """One piece of evidence that a server sits behind Cloudflare (cloudflare.py finds them)."""

    # aop-ca, origin-ca, ca-file-name, real-ip-header, set-real-ip-from, cf-variable,
    # annotation, cli
    kind: str
    detail: str
    file: str | None = None
    line: int | None = None
    inherited: bool = False  # set in http {} rather than in the server

    def describe(self) -> str:
        where = f" at {self.file}:{self.line}" if self.file else ""
        origin = " (inherited from http {})" if self.inherited else ""
        return f"{self.detail}{where}{origin}"


@dataclass(slots=True)
class Detection:
    """Whether a server is Cloudflare-fronted, and why: computed by cloudflare.detect()
    while the model is built (lint.analyse), read by every rule."""

    fronted: bool = False
    signals: list[Signal] = field(default_factory=list)
    overridden_by: Signal | None = None  # a `not-cloudflare` annotation

    @property
    def declared(self) -> bool:
        """The user said so (an annotation or a command-line option), not only the
        configuration's own signals."""
        return any(s.kind in ("annotation", "cli") for s in self.signals)


@dataclass(slots=True)
class VariableMap:
    """`map $source $name { ... }`: what $name holds for a value of $source."""

    source: str
    default: str = ""
    exact: dict[str, str] = field(default_factory=dict)
    regexes: list[tuple[str, int, str]] = field(default_factory=list)
    stmt: Stmt | None = None  # the `map` block
    volatile: bool = False  # `volatile;`: not kept for the rest of the request
    _compiled: list[tuple[pcre.Regex | None, str]] | None = field(
        default=None, repr=False, compare=False)
    # A map of $request_uri: what a client gets for each URI, made once per URI
    # (flow.evaluate; a map is shared by every server of its http {}).
    by_uri: dict[str, object] = field(default_factory=dict, repr=False, compare=False)

    def lookup(self, value: str) -> str | None:
        """What the map gives for `value`; None when a regex before the answer cannot be
        evaluated faithfully (a PCRE feature Python lacks)."""
        return self.lookup_match(value)[0]

    def lookup_match(self, value: str) -> tuple[str | None, pcre.Match | None]:
        """`lookup`, and the regex match that chose the answer (its captures may be in it)."""
        if value.lower() in self.exact:  # ngx_http_map_find: string keys are caseless
            return self.exact[value.lower()], None
        if self._compiled is None:  # once per map: thousands of keys outgrow pcre's cache
            self._compiled = [(pcre.compile(pattern, ignore_case=bool(flags)), result)
                              for pattern, flags, result in self.regexes]
        for compiled, result in self._compiled:
            try:
                match = compiled.search(value) if compiled is not None else None
            except pcre.Undecidable:
                match = compiled = None
            if compiled is None:
                return None, None
            if match:
                return result, match
        return self.default, None


def parse_map(stmt: Stmt) -> tuple[str, VariableMap] | None:
    if len(stmt.args) != 2:
        return None
    variable_map = VariableMap(stmt.args[0], stmt=stmt)
    for entry in flatten(stmt.block):
        if entry.name == "volatile" and not entry.args:
            variable_map.volatile = True
        if entry.name == "#" or not entry.args:
            continue
        key, value = entry.name, entry.args[-1]
        if key == "default":
            variable_map.default = value
        elif key in ("hostnames", "volatile", "include"):
            continue
        elif key.startswith("~*"):
            variable_map.regexes.append((key[2:], re.IGNORECASE, value))
        elif key.startswith("~"):
            variable_map.regexes.append((key[1:], 0, value))
        else:
            variable_map.exact.setdefault(key.removeprefix("\\").lower(), value)
    return stmt.args[1], variable_map


class Scope:
    """The directives set directly in one block (through includes), by name."""

    def __init__(self, stmts: list[Stmt] | None):
        # First statement per name, and the full list only for names that repeat: most
        # directives appear once, and a list each would double the model's memory.
        self._first: dict[str, Stmt] = {}
        self._repeated: dict[str, list[Stmt]] = {}
        comments: list[Stmt] = []
        blocks: list[Stmt] = []
        for stmt in flatten(stmts):
            name = stmt.name
            if name == "#":
                comments.append(stmt)
            elif stmt.block is not None:
                blocks.append(stmt)
            elif name not in self._first:
                self._first[name] = stmt
            elif name in self._repeated:
                self._repeated[name].append(stmt)
            else:
                self._repeated[name] = [self._first[name], stmt]
        # Empty tuples are shared: most scopes have no comments and no inner blocks.
        self.comments: tuple[Stmt, ...] = tuple(comments)
        self.blocks: tuple[Stmt, ...] = tuple(blocks)

    def first(self, name: str) -> Stmt | None:
        return self._first.get(name)

    def all(self, name: str) -> list[Stmt]:
        if name in self._repeated:
            return self._repeated[name]
        return [self._first[name]] if name in self._first else []

    def geos(self) -> "dict[str, Geo]":
        """The `geo` blocks of this scope (http {}), by the variable they define."""
        if not hasattr(self, "_geos"):
            self._geos = parse_geos(self)
        return self._geos

    def maps(self) -> dict[str, VariableMap]:
        """The `map` blocks of this scope (http {}), by the variable they define."""
        if not hasattr(self, "_maps"):
            self._maps = dict(filter(None, (parse_map(s) for s in self.blocks
                                            if s.name == "map")))
        return self._maps


@dataclass(slots=True)
class Listen:
    socket: str  # normalised address:port, e.g. "0.0.0.0:443", "[::]:443", "unix:/run/x.sock"
    stmt: Stmt
    ssl: bool = False
    default_server: bool = False
    http2: bool = False
    quic: bool = False
    proxy_protocol: bool = False


def parse_listen(stmt: Stmt) -> Listen:
    address = stmt.args[0] if stmt.args else "80"
    flags = set(stmt.args[1:])
    if address.startswith("unix:"):
        socket = address
    else:
        host, port = _split_host_port(address)
        socket = f"{host}:{port}"
    listen = Listen(
        socket, stmt,
        ssl="ssl" in flags,
        default_server="default_server" in flags or "default" in flags,
        http2="http2" in flags,
        quic="quic" in flags,
        proxy_protocol="proxy_protocol" in flags,
    )
    if listen.quic:
        listen.socket += "/quic"  # UDP: a separate socket from TCP on the same port
    elif "udp" in flags:
        listen.socket += "/udp"  # stream {}: likewise
    return listen


@functools.lru_cache(maxsize=4096)
def _split_host_port(address: str) -> tuple[str, str]:
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port = rest.lstrip(":") or "80"
        try:
            host = ipaddress.IPv6Address(host).compressed
        except ValueError:
            pass
        return f"[{host}]", port
    if address.isdigit():
        return "0.0.0.0", address
    if ":" in address:
        host, port = address.rsplit(":", 1)
    else:
        host, port = address, "80"
    host = host.lower()
    if host in ("*", ""):
        host = "0.0.0.0"
    return host, port


@functools.lru_cache(maxsize=4096)
def is_loopback(socket: str) -> bool:
    host = socket.rsplit(":", 1)[0].strip("[]")
    if socket.startswith("unix:") or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(slots=True)
class Handler:
    """`if (COND) { return CODE; }` as written (what `inspect` lists; the request-flow
    simulation in flow.py decides what it does)."""

    if_stmt: Stmt
    condition: list[str]
    return_stmt: Stmt
    code: str


def handlers_in(scope: Scope) -> list[Handler]:
    handlers = []
    for stmt in scope.blocks:
        if stmt.name != "if":
            continue
        for inner in flatten(stmt.block):
            if inner.name == "return" and inner.args:
                handlers.append(Handler(stmt, stmt.args, inner, inner.args[0]))
                break
    return handlers


@dataclass(slots=True, eq=False)
class Location:
    stmt: Stmt
    modifier: str  # "=", "^~", "~", "~*", "@" or "" (prefix)
    pattern: str
    scope: Scope
    handlers: list[Handler]
    locations: list["Location"]

    def matches(self, uri: str) -> bool | None:
        """Whether nginx picks this location's pattern for `uri`; None for a regex we cannot
        run (pcre.unsupported says why)."""
        if self.modifier == "=":
            return uri == self.pattern
        if self.modifier in ("~", "~*"):
            compiled = pcre.compile(self.pattern, ignore_case=self.modifier == "~*")
            try:
                return None if compiled is None else compiled.search(uri) is not None
            except pcre.Undecidable:
                return None
        return self.modifier != "@" and uri.startswith(self.pattern)

    @property
    def label(self) -> str:
        if self.modifier == "@":
            return "@" + self.pattern
        return f"{self.modifier} {self.pattern}".strip()


def parse_location(stmt: Stmt) -> Location:
    args = stmt.args
    if len(args) >= 2:
        modifier, pattern = args[0], args[1]
    else:
        name = args[0] if args else ""
        if name.startswith("="):
            modifier, pattern = "=", name[1:]
        elif name.startswith("~*"):
            modifier, pattern = "~*", name[2:]
        elif name.startswith("~"):
            modifier, pattern = "~", name[1:]
        elif name.startswith("@"):
            modifier, pattern = "@", name[1:]
        else:
            modifier, pattern = "", name
    scope = Scope(stmt.block)
    children = [parse_location(s) for s in scope.blocks if s.name == "location"]
    return Location(stmt, modifier, pattern, scope, handlers_in(scope), children)


def _find_location(locations: list[Location], uri: str
                   ) -> tuple[Location | None, bool, Location | None]:
    """(location, decisive, undecided) as ngx_http_core_find_location: an exact match, a ^~
    prefix or a regex match decides; a plain prefix still yields to the regexes of its level.
    `undecided` is a regex location tried before the choice whose regex we cannot run (the
    choice then depends on it)."""
    best: Location | None = None
    for location in locations:
        if location.modifier == "=" and location.pattern == uri:
            return location, True, None
        if location.modifier in ("", "^~") and uri.startswith(location.pattern):
            if best is None or len(location.pattern) > len(best.pattern):
                best = location
    if best is not None and best.locations:
        nested, decisive, undecided = _find_location(best.locations, uri)
        if decisive or undecided is not None:
            return nested, decisive, undecided
        best = nested or best
    if best is not None and best.modifier == "^~":
        return best, True, None
    for location in locations:
        if location.modifier in ("~", "~*"):
            matched = location.matches(uri)
            if matched is None:
                return best, False, location
            if matched:
                return location, True, None
    return best, False, None


@dataclass(slots=True, eq=False)
class Conf:
    """One level of configuration a request can be handled with: http, server, a location, an
    `if` block inside a location, or a `limit_except` block. Lookups fall back to the parent,
    as ngx_http_core_merge_loc_conf merges most directives."""

    scope: Scope
    parent: "Conf | None"
    stmt: Stmt | None = None  # the block (location, if, limit_except); None for server/http
    location: Location | None = None
    context: str = "http"  # http or stream: the block settings are inherited from

    memo: dict[Any, Any] = field(default_factory=dict)  # per name(s): what it asked once

    def get(self, name: str) -> Stmt | None:
        conf: Conf | None = self
        while conf is not None:
            found = conf.scope.first(name)
            if found is not None:
                return found
            conf = conf.parent
        return None

    def setting(self, name: str) -> "Setting | None":
        """The effective value of a directive, and whether it came from a level above."""
        conf: Conf | None = self
        while conf is not None:
            found = conf.scope.first(name)
            if found is not None:
                return Setting(found, conf is not self, self.context)
            conf = conf.parent
        return None

    def settings(self, name: str) -> "list[Setting]":
        """All effective statements of a repeatable directive (error_page, set_real_ip_from):
        a level that sets any replaces the whole group of the levels above."""
        conf: Conf | None = self
        while conf is not None:
            found = conf.scope.all(name)
            if found:
                return [Setting(s, conf is not self, self.context) for s in found]
            conf = conf.parent
        return []

    def error_pages(self) -> list[ErrorPage]:
        """The `error_page`s in effect, parsed once per level."""
        found = self.memo.get("error_page")
        if found is None:
            found = self.memo["error_page"] = [ErrorPage.of(s) for s in self.group("error_page")]
        return found

    def group(self, *names: str) -> list[Stmt]:
        """A list directive group (error_page; allow+deny) from the nearest level setting
        any of it: a level that sets one replaces its parent's whole list."""
        if names in self.memo:
            cached: list[Stmt] = self.memo[names]
            return cached
        conf: Conf | None = self
        found: list[Stmt] = []
        while conf is not None and not found:
            found = [s for s in flatten(_own_block(conf)) if s.name in names]
            conf = conf.parent
        self.memo[names] = found
        return found


def _own_block(conf: Conf) -> list[Stmt]:
    if conf.stmt is not None:
        return [s for s in (conf.stmt.block or []) if s.block is None or s.name == "include"]
    return list(conf.scope._first.values()) + [
        s for stmts in conf.scope._repeated.values() for s in stmts[1:]]


def own_chain(conf: Conf, name: str) -> Stmt | None:
    """Directives that nginx does not inherit into nested locations (handlers, try_files):
    set in this location, or in an `if`/`limit_except` block inside it."""
    current: Conf | None = conf
    while current is not None and current.stmt is not None:
        found = current.scope.first(name)
        if found is not None:
            return found
        if current.stmt.name == "location":
            return None
        current = current.parent
    if conf.stmt is None:  # the server's own configuration (no location matched)
        return conf.scope.first(name)
    return None


@dataclass(slots=True)
class ErrorPage:
    """`error_page CODE... [=[RESPONSE]] TARGET`: the one parser of the directive."""

    stmt: Stmt
    codes: list[str]
    target: str
    inherited: bool = False
    response: str | None = None  # "=" (the target's own status) or "=CODE"; None: the status

    @classmethod
    def of(cls, stmt: Stmt, inherited: bool = False) -> "ErrorPage":
        args = stmt.args
        return cls(stmt, [a for a in args[:-1] if a.isdigit()], args[-1] if args else "",
                   inherited, next((a for a in args[:-1] if a.startswith("=")), None))

    @property
    def external(self) -> bool:
        return self.target.startswith(("http://", "https://", "$scheme://"))

    def takes(self, status: int) -> bool:
        return str(status) in self.codes

    def answers(self, status: int, target_status: int) -> int:
        """The status the client gets when this page took `status` and its target answered
        `target_status`: the original, the one after `=`, or (`=` alone) the target's."""
        if self.response is None:
            return status
        code = self.response[1:]
        return int(code) if code.isdigit() else target_status


def parse_error_page(setting: "Setting") -> ErrorPage:
    return ErrorPage.of(setting.stmt, setting.inherited)


@dataclass(frozen=True, slots=True)
class Verification:
    """How a server verifies client certificates: the mode, the directive that set it (None:
    nginx's default, `off`), and the `$ssl_client_verify` values with which a client without
    a valid certificate gets past the handshake (for a later check to reject, if any)."""

    mode: str  # off | on | optional | optional_no_ca (as written, lower-cased)
    setting: Setting | None
    verify_mode: VerifyMode  # what the mode does (an unknown value: off)

    @property
    def lets_through(self) -> tuple[str, ...]:
        return self.verify_mode.lets_through

    @property
    def verifies(self) -> bool:
        return self.verify_mode.verifies


def verification(setting: Setting | None) -> Verification:
    mode = setting.value.lower() if setting else "off"
    return Verification(mode, setting, VerifyMode.of(mode))


# --------------------------------------------------------------------------- rewrite module


@dataclass(frozen=True, slots=True)
class Return:
    """`return CODE [TEXT]`, `return CODE URL`, `return URL` (a 302)."""

    stmt: Stmt
    code: int
    text: str | None  # the text or URL after the code; None: none written

    @classmethod
    def of(cls, stmt: Stmt) -> "Return":
        first = stmt.args[0] if stmt.args else ""
        if not first.isdigit():
            return cls(stmt, 302, first)
        return cls(stmt, int(first), stmt.args[1] if len(stmt.args) > 1 else None)

    @property
    def bare_url(self) -> bool:
        """`return URL`: a redirect without a code."""
        return bool(self.stmt.args) and not self.stmt.args[0].isdigit()


@dataclass(frozen=True, slots=True)
class Rewrite:
    """`rewrite REGEX REPLACEMENT [last|break|redirect|permanent]`."""

    stmt: Stmt
    pattern: str
    replacement: str
    flag: str  # "" when none is written

    @classmethod
    def of(cls, stmt: Stmt) -> "Rewrite":
        args = stmt.args
        return cls(stmt, args[0], args[1], args[2] if len(args) > 2 else "")

    @property
    def redirects(self) -> bool:
        return self.flag in ("redirect", "permanent") or self.replacement.startswith(
            ("http://", "https://", "$scheme"))


@dataclass(frozen=True, slots=True)
class TryFiles:
    """`try_files FILE... FALLBACK`: the fallback a URI, `=CODE` or `@name`."""

    stmt: Stmt
    files: list[str]
    fallback: str

    @classmethod
    def of(cls, stmt: Stmt) -> "TryFiles":
        return cls(stmt, stmt.args[:-1], stmt.args[-1])


# --------------------------------------------------------------------------- geo


@dataclass(slots=True)
class Geo:
    source: str
    default: str = ""
    networks: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]] = field(
        default_factory=list)

    def lookup(self, address: str) -> str | None:
        """The value for an address (the longest matching network's, else the default);
        None for something that is not an address."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        best: tuple[int, str] | None = None
        for network, value in self.networks:
            if ip.version == network.version and ip in network:
                if best is None or network.prefixlen > best[0]:
                    best = (network.prefixlen, value)
        return best[1] if best else self.default


def geos_of(http: Scope) -> dict[str, Geo]:
    """The `geo` variables of an http {} scope, by name (Scope.geos: read once per scope;
    every server of the configuration shares them)."""
    return http.geos()


def parse_geos(http: Scope) -> dict[str, Geo]:
    found: dict[str, Geo] = {}
    for stmt in http.blocks:
        if stmt.name != "geo" or not stmt.args:
            continue
        source, name = (stmt.args[0], stmt.args[1]) if len(stmt.args) > 1 else \
            ("$remote_addr", stmt.args[0])
        geo = Geo(source)
        for entry in flatten(stmt.block):
            if entry.name == "#" or not entry.args:
                continue
            if entry.name == "default":
                geo.default = entry.args[0]
                continue
            try:
                geo.networks.append((ipaddress.ip_network(entry.name, strict=False),
                                     entry.args[0]))
            except ValueError:
                continue
        found[name] = geo
    return found
