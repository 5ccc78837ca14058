"""What nginx will apply to each server block, with the file:line behind every value.

Built once from the loader's trees; rules only read it. Answers inheritance (http -> server ->
location), listen sockets and their default server, which sockets speak TLS, rewrite-phase
handlers and error pages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar, Generic, Iterator, TypeVar

from .loader import Tree, Workspace
from .parser import Stmt
from .records import (  # noqa: F401 (the model's names, as before)
    VARIABLE_NAME, CLIENT_CA_DIRECTIVES, LET_THROUGH, VERIFY_VARIABLE, LUA_PHASES, LUA_CHECKS,
    lua_may_check, flatten, walk, Setting, Signal, Detection, VariableMap, parse_map, Scope,
    Listen, parse_listen, _split_host_port, is_loopback, Handler, handlers_in, Location,
    parse_location, _find_location, ErrorPage, parse_error_page, Verification, verification,
    Conf, own_chain, Return, Rewrite, TryFiles, Geo, geos_of, parse_geos)

# The model's names: its own and the records' (records.py), as before the split.
__all__ = [
    "VARIABLE_NAME", "CLIENT_CA_DIRECTIVES", "LET_THROUGH", "VERIFY_VARIABLE", "LUA_PHASES",
    "LUA_CHECKS", "lua_may_check", "flatten", "walk", "Setting", "Signal", "Detection",
    "VariableMap", "parse_map", "Scope", "Listen", "parse_listen", "_split_host_port",
    "is_loopback", "Handler", "handlers_in", "Location", "parse_location", "_find_location",
    "ErrorPage", "parse_error_page", "Verification", "verification", "Conf", "own_chain",
    "Return", "Rewrite", "TryFiles", "Geo", "geos_of", "parse_geos", "TlsServer", "Server",
    "StreamServer", "S", "REGEX_DOMAIN_REVERSED", "regex_domain", "top_level_alternative",
    "LABEL_NAMES", "names_label", "name_keys", "Socket", "Config", "Model",
    "http_blocks", "build_server", "SERVER_BODY", "snippet_server", "stream_blocks",
    "build_stream_server", "group_sockets", "build_config", "build_model",
]


LABEL_NAMES = 8  # a server's names shown in a message; more are counted


def real_names(names: list[str]) -> list[str]:
    """A server's names as messages show them: without the empty name, and without the
    catch-all `_` (an invalid name nginx never matches) when the server has other names."""
    named = [n for n in names if n]
    return [n for n in named if n != "_"] or named


def names_label(names: list[str]) -> str:
    """A server's names for a message: the first few and how many more (a server of
    24,000 names made each of its messages 370 KB, and every message's shape cost as
    much again per name)."""
    shown = real_names(names)
    if len(shown) <= LABEL_NAMES:
        return " ".join(shown)
    return " ".join(shown[:LABEL_NAMES]) + f" (and {len(shown) - LABEL_NAMES} more names)"


@dataclass(slots=True, eq=False)
class TlsServer:
    """What every `server` block has, in http {} and in stream {}: listeners, names, the
    TLS settings with their inheritance, client verification, the trust files, Cloudflare
    detection. `http` is the enclosing block's scope (http {} or stream {})."""

    context: ClassVar[str] = "http"
    stmt: Stmt
    tree: Tree
    http: Scope
    scope: Scope
    listens: list[Listen]
    names: list[str]
    # sockets it is the default server of
    default_on: list[str] = field(default_factory=list, kw_only=True)
    tls_on: list[str] = field(default_factory=list, kw_only=True)  # its sockets that speak TLS
    # filled by cloudflare.detect()
    cloudflare: Detection = field(default_factory=Detection, kw_only=True)
    # the configuration it belongs to (set by Config once every server is built)
    config: "Config" = field(init=False, repr=False)
    # every rule asks
    _settings: dict[str, Setting | None] = field(default_factory=dict, kw_only=True)
    _names: frozenset[str] | None = field(default=None, kw_only=True)
    _written_check: list[Stmt] | None = field(default=None, kw_only=True)  # [] : none
    _verification: Verification | None = field(default=None, kw_only=True)
    _conf: Conf | None = field(default=None, kw_only=True)

    @property
    def conf(self) -> Conf:
        """The server's level of configuration, its parent the http {} (stream {}) block's."""
        if self._conf is None:
            self._conf = Conf(self.scope, Conf(self.http, None, context=self.context),
                              context=self.context)
        return self._conf

    @property
    def file(self) -> str:
        return self.stmt.file

    @property
    def line(self) -> int:
        return self.stmt.line

    @property
    def label(self) -> str:
        names = [n for n in self.names if n]
        real = [n for n in names if n != "_"]  # the catch-all `_` only when it is all there is
        return names_label(real or names) or f"server at {self.file}:{self.line}"

    @property
    def title(self) -> str:
        """The server as a finding's message names it: by its names, never by where it is
        (the finding, or a related location, says that)."""
        names = [n for n in self.names if n]
        real = [n for n in names if n != "_"]
        return names_label(real or names) or "the server with no server_name"

    def setting(self, name: str) -> Setting | None:
        """The effective value of a directive: the server's own, else the one from http {}."""
        if name not in self._settings:
            self._settings[name] = self.conf.setting(name)
        return self._settings[name]

    def settings(self, name: str) -> list[Setting]:
        """All effective statements of a repeatable directive (error_page, set_real_ip_from):
        a server that sets any replaces the whole group from http {}."""
        return self.conf.settings(name)

    @property
    def serves_tls(self) -> bool:
        return bool(self.tls_on)

    @property
    def exposed_tls(self) -> bool:
        """Serves TLS on an address other hosts can reach (not only loopback or unix:, unless
        a stream {} server relays connections there from outside)."""
        return any(self.config.exposed(socket) for socket in self.tls_on)

    @property
    def maps(self) -> dict[str, VariableMap]:
        return self.http.maps()

    def client_ca_settings(self) -> list[tuple[str, Setting]]:
        """(directive, Setting) for each file that verifies client certificates: the client CA
        file and the trusted CA file (which verifies clients too, it is only not advertised)."""
        found = []
        for name in CLIENT_CA_DIRECTIVES:
            setting = self.setting(name)
            if setting is not None and setting.stmt.args:
                found.append((name, setting))
        return found

    @property
    def verification(self) -> Verification:
        if self._verification is None:
            self._verification = verification(self.setting("ssl_verify_client"))
        return self._verification

    @property
    def verifies_clients(self) -> bool:
        return self.verification.verifies

    @property
    def rejects_handshakes_without_sni(self) -> bool:
        setting = self.setting("ssl_reject_handshake")
        return setting is not None and setting.value == "on"


@dataclass(slots=True, eq=False)
class Server(TlsServer):
    """An http {} server: the TLS part, and locations, rewrite-phase handlers, error pages."""

    locations: list[Location]
    handlers: list[Handler]

    def find_location(self, uri: str) -> Location | None:
        """The location nginx picks for `uri`: exact match, else the longest prefix (which
        stops the search with ^~), else the first matching regex, nested ones first."""
        return _find_location(self.locations, uri)[0]

    def locate(self, uri: str) -> tuple[Location | None, Location | None]:
        """`find_location`, and the regex location whose regex we cannot run that the choice
        depends on (None when the choice is certain)."""
        location, _, undecided = _find_location(self.locations, uri)
        return location, undecided

    def named_location(self, name: str) -> Location | None:
        return next((loc for loc in self.locations
                     if loc.modifier == "@" and loc.pattern == name), None)

    def error_pages(self) -> list["ErrorPage"]:
        """Server-level error_page directives (else the http {} ones): the only ones nginx
        uses for errors raised before a location is chosen (400, 495, 496, 497)."""
        return [parse_error_page(s) for s in self.settings("error_page")]

    def all_locations(self) -> Iterator[Location]:
        stack = list(reversed(self.locations))
        while stack:
            location = stack.pop()
            yield location
            stack.extend(reversed(location.locations))

    @property
    def reachable_tls(self) -> list[str]:
        """Its TLS sockets on which a request can reach it. With `ssl_reject_handshake on`
        it completes no handshake itself, but one completed with another server on the
        socket (the default without SNI, or a server named in SNI) carries `Host:` to it,
        and the 421 check only guards servers that verify clients: it is out of reach only
        where every server on the socket refuses handshakes. A refusing server without a
        name (the usual catch-all default) gets only unknown names: left out."""
        if not self.rejects_handshakes_without_sni:
            return self.tls_on
        if not any(name and name != "_" for name in self.names):
            return []
        return [name for name in self.tls_on
                if self.config.sockets[name].completes_handshakes]

    @property
    def exposed_plain_listens(self) -> list[Listen]:
        """Listeners that speak plain HTTP to other hosts (not TLS, QUIC or loopback)."""
        return [listen for listen in self.listens
                if listen.socket not in self.tls_on and not listen.quic
                and self.config.exposed(listen.socket)]

    def directive_names(self) -> frozenset[str]:
        """The names of every directive in the server block (through includes)."""
        if self._names is None:
            self._names = frozenset(s.name for s in walk(self.stmt.block))
        return self._names

    def set_statements(self, variable: str) -> list[Stmt]:
        """Every `set $variable ...` in the server (any level)."""
        name = variable.replace("{", "")
        return [s for s in walk(self.stmt.block) if s.name == "set" and s.args
                and s.args[0] == name]

    def reads_certificate(self, text: str, depth: int = 0) -> bool:
        """Whether a value tests the client certificate: `$ssl_client_*` itself, a map over
        it, or a `set` variable holding it or set inside an `if` that tests it."""
        if "$ssl_client_" in text:
            return True
        if depth > 8 or "$" not in text:
            return False
        for variable in VARIABLE_NAME.findall(text):
            mapped = self.maps.get(variable)
            if mapped is not None and self.reads_certificate(mapped.source, depth + 1):
                return True
            if any(len(s.args) > 1 and self.reads_certificate(s.args[1], depth + 1)
                   for s in self.set_statements(variable)):
                return True
            # `if (<certificate test>) { set $flag ...; }`: the flag carries the answer.
            for stmt in walk(self.stmt.block):
                if stmt.name == "if" and stmt.args and "$" in stmt.args[0] and any(
                        s.name == "set" and s.args[:1] == [variable.replace("{", "")]
                        for s in flatten(stmt.block)) and self.reads_certificate(
                            stmt.args[0], depth + 1):
                    return True
        return False

    def written_check(self) -> Stmt | None:
        """A check of the client certificate written anywhere in the server (an `if` that
        tests it, an `auth_request`, a Lua handler that may), whether or not any request
        reaches it."""
        if self._written_check is None:
            self._written_check = [
                s for s in walk(self.stmt.block) if s.name == "auth_request" or lua_may_check(s)
                or (s.name == "if" and s.args and self.reads_certificate(s.args[0]))][:1]
        return self._written_check[0] if self._written_check else None

    def reads_client_verification(self) -> bool:
        """Whether anything in the server reads $ssl_client_* (a check, also through an
        http-level map or a `set` flag, or passing it on)."""
        return self.written_check() is not None or any(
            "$ssl_client_" in arg for stmt in walk(self.stmt.block) if stmt.name != "#"
            for arg in stmt.args)


@dataclass(slots=True, eq=False)
class StreamServer(TlsServer):
    """A stream {} server: TLS and `proxy_pass`, no request phases. Under `optional` nothing
    later can reject a client without a certificate, unless the `proxy_pass` target itself
    is chosen by `$ssl_client_verify` (through a `map`)."""

    context: ClassVar[str] = "stream"

    @property
    def label(self) -> str:
        return "stream server " + (names_label(self.names) or f"at {self.file}:{self.line}")

    @property
    def title(self) -> str:
        return "stream server " + (names_label(self.names) or "with no server_name")

    @property
    def proxy_pass(self) -> Setting | None:
        return self.setting("proxy_pass")

    def verify_map(self) -> tuple[str, VariableMap] | None:
        """(variable, map) when the `proxy_pass` target is a variable that a `map` (or a
        chain of maps) derives from `$ssl_client_verify`."""
        chain = self.verify_chain()
        return chain[0] if chain else None

    def verify_chain(self) -> list[tuple[str, VariableMap]]:
        """The maps from the `proxy_pass` variable down to the one over `$ssl_client_verify`
        (empty when the target is not derived from it)."""
        proxy = self.proxy_pass
        if proxy is None or not proxy.value.startswith("$"):
            return []
        name = proxy.value.replace("{", "").replace("}", "")
        chain: list[tuple[str, VariableMap]] = []
        variable_map = self.maps.get(name)
        while variable_map is not None and name not in dict(chain):
            chain.append((name, variable_map))
            if variable_map.source == VERIFY_VARIABLE:
                return chain
            name = variable_map.source
            variable_map = self.maps.get(name)
        return []

    def access_rules(self) -> list[Stmt]:
        """`allow` and `deny` in the order nginx tries them: the server's own, else those of
        stream {} (a level that sets any replaces its parent's list)."""
        own = [s for s in flatten(self.stmt.block) if s.name in ("allow", "deny")]
        return own or sorted(self.http.all("allow") + self.http.all("deny"),
                             key=lambda s: (s.file, s.line))

    def relayed_sockets(self) -> list[str]:
        """The sockets this server hands its connections to untouched, when it takes them
        from other hosts without terminating TLS (`ssl_preread`, a TCP relay): `proxy_pass`
        or `pass` to an address, an `upstream {}` block's servers, or any value of the
        `map` that picks one (`map $ssl_preread_server_name ...`)."""
        if self.tls_on or not any(not is_loopback(listen.socket) for listen in self.listens):
            return []
        handler = self.proxy_pass or self.setting("pass")
        if handler is None:
            return []
        targets = [handler.value]
        variable_map = self.maps.get(handler.value.replace("{", "").replace("}", ""))
        if variable_map is not None:
            targets = [variable_map.default, *variable_map.exact.values(),
                       *(result for _, _, result in variable_map.regexes)]
        upstreams = {s.args[0]: s for s in self.http.blocks if s.name == "upstream" and s.args}
        sockets: list[str] = []
        for target in targets:
            block = upstreams.get(target)
            addresses = [s.args[0] for s in flatten(block.block) if s.name == "server"
                         and s.args] if block is not None else [target]
            sockets.extend(address if address.startswith("unix:") else
                           ":".join(_split_host_port(address)) for address in addresses
                           if address and "$" not in address)
        return sockets

    def target_for(self, verify: str) -> str | None:
        """The `proxy_pass` target of a client whose `$ssl_client_verify` is `verify`,
        through the chain of maps; None when a step cannot be evaluated (a regex Python
        cannot run, a value built from another variable)."""
        value: str | None = verify
        for _, variable_map in reversed(self.verify_chain()):
            if value is None or (value != verify and "$" in value):
                return None
            value = variable_map.lookup(value)
        return value


S = TypeVar("S", bound=TlsServer)


# `\.example\.com$` ending a regex, matched on the reversed regex from its start: a
# search for the suffix tried every position of the regex (quadratic on `\.a` x 50,000).
REGEX_DOMAIN_REVERSED = re.compile(r"\$((?:[A-Za-z0-9-]+\.\\)+)")


def regex_domain(regex: str) -> str | None:
    r"""The literal domain a regex `server_name` ends in (`~^(www\.)?ex\.com$` ->
    `.ex.com`, lower-cased), or None."""
    match = REGEX_DOMAIN_REVERSED.match(regex[::-1])
    return match[1][::-1].replace("\\", "").lower() if match else None


def top_level_alternative(regex: str) -> bool:
    """Whether a regex has a `|` outside every group (or unbalanced parentheses): then an
    alternative may end elsewhere than its last literal. One pass over the text."""
    depth = 0
    for char in regex:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                return True
        elif char == "|" and depth == 0:
            return True
    return depth != 0


def name_keys(name: str) -> tuple[str, ...]:
    """The entries a `server_name` takes in nginx's name hashes (ngx_hash_add_key), in
    which the first server on an address:port to take one answers it: an exact name, or a
    wildcard `*.x` or `x.*` (lower-cased); `.x` takes both the exact x and `*.x`, which is
    the same wildcard as `.x` to nginx. A regex is its own entry: two servers with the same
    regex, the first answers."""
    if name.startswith("~"):
        return (name,)
    name = name.lower()
    if name.startswith(".") and len(name) > 1:
        return (name[1:], "*" + name)
    return (name,)


@dataclass(slots=True)
class Socket(Generic[S]):
    """One listen address:port and the servers on it, in configuration order."""

    name: str
    entries: list[tuple[S, Listen]] = field(default_factory=list)
    tls: bool = False
    _by_name: dict[str, S] | None = field(default=None, repr=False)
    # the first entry marked `default_server`, kept as entries are added: asked per server
    _explicit_default: tuple[S, Listen] | None = field(default=None, repr=False)
    _servers: dict[int, S] = field(default_factory=dict, repr=False)
    _wildcard_length: int = field(default=0, repr=False)  # of the longest `*.x` name key
    _handshakes: bool | None = field(default=None, repr=False)

    def add(self, server: S, listen: Listen) -> None:
        self.entries.append((server, listen))
        self._servers.setdefault(id(server), server)
        self._handshakes = None
        if listen.default_server and self._explicit_default is None:
            self._explicit_default = (server, listen)
        self._by_name = None

    def answering(self, key: str) -> S | None:
        """The server that answers a name key here (see name_keys): the first listing it
        (nginx -t only warns about the others, "conflicting server name ... ignored")."""
        return self._names().get(key)

    def _names(self) -> dict[str, S]:
        if self._by_name is None:
            self._by_name = {}
            for server, _ in self.entries:
                for each in server.names:
                    keys = name_keys(each)
                    # ngx_hash_add_key: `.x` whose exact x is taken is ignored as a whole
                    if len(keys) == 2 and keys[0] in self._by_name:
                        continue
                    for key in keys:
                        self._by_name.setdefault(key, server)
            self._wildcard_length = max((len(key) for key in self._by_name
                                         if key.startswith("*.")), default=0)
        return self._by_name

    def wildcard_over(self, regex: str) -> str | None:
        """The longest leading wildcard here (a name key, `*.x`) matching every name that a
        regex `server_name` ending in a literal domain (`\\.example\\.com$`) matches: nginx
        tries regexes only after exact names and wildcards, so its server answers them all."""
        domain = regex_domain(regex)  # ".example.com"
        if domain is None or top_level_alternative(regex):
            return None
        names = self._names()
        # the longest `*.x` whose `.x` ends the domain: looked up, suffix by suffix, none
        # longer than the longest wildcard here
        first = max(0, len(domain) - self._wildcard_length + 1)
        suffixes = (domain[i:] for i in range(first, len(domain)) if domain[i] == ".")
        return next((f"*{suffix}" for suffix in suffixes if f"*{suffix}" in names), None)

    @property
    def default(self) -> S:
        return self.default_listen[0]

    @property
    def default_listen(self) -> tuple[S, Listen]:
        """The default server and its `listen` for this socket: the one marked
        `default_server`, else the first listed."""
        return self._explicit_default or self.entries[0]

    @property
    def default_is_explicit(self) -> bool:
        return self._explicit_default is not None

    @property
    def servers(self) -> list[S]:
        return list(self._servers.values())

    @property
    def completes_handshakes(self) -> bool:
        """Whether a server here completes TLS handshakes without SNI (one not refusing
        them with `ssl_reject_handshake on`); computed once, asked per server."""
        if self._handshakes is None:
            self._handshakes = any(not server.rejects_handshakes_without_sni
                                   for server in self._servers.values())
        return self._handshakes


@dataclass(slots=True)
class Config:
    """The servers of one tree (one nginx instance) and its listen sockets."""

    tree: Tree
    servers: list[Server]  # http {} servers
    sockets: dict[str, Socket[Server]]
    stream_servers: list[StreamServer] = field(default_factory=list)
    stream_sockets: dict[str, Socket[StreamServer]] = field(default_factory=dict)
    _protected: dict[str, list[Server]] | None = field(default=None, repr=False)
    # loopback sockets a stream {} server relays connections to from outside, and the relay
    forwarded: dict[str, StreamServer] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        for server in self.tls_servers:
            server.config = self
        for relay in self.stream_servers:
            for socket in relay.relayed_sockets():
                if is_loopback(socket):
                    self.forwarded.setdefault(socket, relay)

    def exposed(self, socket: str) -> bool:
        """Whether other hosts reach a listen socket: not loopback or unix:, or relayed
        there by a stream {} server."""
        return not is_loopback(socket) or socket in self.forwarded

    def protected_twin(self, server: Server) -> tuple[str, Server] | None:
        """A name `server` shares with another http {} server that verifies client
        certificates over TLS, and the first such server."""
        if self._protected is None:
            self._protected = {}
            for each in self.servers:
                if each.verifies_clients and each.tls_on:
                    for name in each.names:
                        if name and name != "_":
                            self._protected.setdefault(name.lower(), []).append(each)
        for name in server.names:
            twin = next((s for s in self._protected.get(name.lower(), ()) if s is not server),
                        None)
            if twin is not None:
                return name, twin
        return None

    @property
    def tls_servers(self) -> list[TlsServer]:
        """http {} and stream {} servers: what the TLS-level rules read."""
        return [*self.servers, *self.stream_servers]

    @property
    def fragment(self) -> bool:
        """Linted alone, outside the nginx.conf that loads it: other files of the deployment
        may add servers to its sockets (a default server, the `ssl` flag)."""
        return self.tree.context == "http"

    def known_default(self, socket: Socket[S]) -> S | None:
        """The socket's default server, when this tree alone can tell it."""
        if self.fragment and not socket.default_is_explicit:
            return None
        return socket.default


@dataclass(slots=True)
class Model:
    configs: list[Config]

    @property
    def servers(self) -> Iterator[Server]:
        for config in self.configs:
            yield from config.servers

    @property
    def tls_servers(self) -> Iterator[TlsServer]:
        for config in self.configs:
            yield from config.tls_servers


def http_blocks(tree: Tree) -> list[list[Stmt]]:
    if tree.context == "http":
        return [tree.stmts]
    return [s.block for s in flatten(tree.stmts) if s.name == "http" and s.block is not None]


def build_server(stmt: Stmt, tree: Tree, http: Scope) -> Server:
    scope = Scope(stmt.block)
    listens = [parse_listen(s) for s in scope.all("listen")] or [
        Listen("0.0.0.0:80", stmt)
    ]
    names = [name for s in scope.all("server_name") for name in s.args] or [""]
    locations = [parse_location(s) for s in scope.blocks if s.name == "location"]
    return Server(stmt, tree, http, scope, listens, names, locations, handlers_in(scope))


# Directives that make a fragment with no `server {}` the inside of one (a snippet).
SERVER_BODY = frozenset(("ssl_verify_client", "location", "listen", "server_name"))


def snippet_server(tree: Tree) -> Server | None:
    """A fragment linted alone whose directives belong inside a `server {}` (a snippet
    included by servers elsewhere), as the server it will be part of: TLS, since only the
    including server's listeners are unknown."""
    top = [s for s in flatten(tree.stmts) if s.name != "#"]
    if not top or not any(s.name in SERVER_BODY for s in top) or any(
            s.name in ("server", "http", "stream") for s in top):
        return None
    stmt = Stmt("server", [], top[0].file, top[0].line, block=tree.stmts)
    server = build_server(stmt, tree, Scope([]))
    if not server.scope.all("listen"):
        server.listens = [Listen("0.0.0.0:443", stmt, ssl=True)]
    return server


def stream_blocks(tree: Tree) -> list[list[Stmt]]:
    if tree.context == "http":
        return []
    return [s.block for s in flatten(tree.stmts) if s.name == "stream" and s.block is not None]


def build_stream_server(stmt: Stmt, tree: Tree, stream: Scope) -> StreamServer:
    scope = Scope(stmt.block)
    names = [name for s in scope.all("server_name") for name in s.args] or [""]
    return StreamServer(stmt, tree, stream, scope, [parse_listen(s) for s in scope.all("listen")],
                        names)


def group_sockets(servers: list[S], legacy_ssl: bool = False) -> dict[str, Socket[S]]:
    """The listen sockets of some servers; fills each server's default_on and tls_on."""
    sockets: dict[str, Socket[S]] = {}
    for server in servers:
        for listen in server.listens:
            socket = sockets.setdefault(listen.socket, Socket(listen.socket))
            socket.add(server, listen)
            # The ssl flag belongs to the address:port: one server's `ssl` makes it TLS for all.
            socket.tls = socket.tls or listen.ssl or listen.quic
    for socket in sockets.values():
        if legacy_ssl and not socket.tls:
            # `ssl on;` (until nginx 1.25.1) counts in the port's default server only:
            # ngx_http_init_connection reads it from the default server's configuration.
            ssl = socket.default.setting("ssl")
            socket.tls = ssl is not None and ssl.value == "on"
        socket.default.default_on.append(socket.name)
        for server in socket.servers:
            if socket.tls:
                server.tls_on.append(socket.name)
    return sockets


def build_config(tree: Tree) -> Config:
    servers: list[Server] = []
    for block in http_blocks(tree):
        http = Scope(block)
        servers.extend(build_server(s, tree, http) for s in http.blocks if s.name == "server")
    if not servers and tree.context == "http":
        snippet = snippet_server(tree)
        if snippet is not None:
            servers.append(snippet)
    streams: list[StreamServer] = []
    for block in stream_blocks(tree):
        stream = Scope(block)
        streams.extend(build_stream_server(s, tree, stream) for s in stream.blocks
                       if s.name == "server")
    return Config(tree, servers, group_sockets(servers, legacy_ssl=True), streams,
                  group_sockets(streams))


def build_model(workspace: Workspace) -> Model:
    return Model([build_config(tree) for tree in workspace.trees])
