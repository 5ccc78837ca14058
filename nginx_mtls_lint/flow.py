"""Follow a request through nginx's phases, the way ngx_http_core_module.c runs them.

For one server, one kind of client and one URI, `Simulator.request()` answers whether the
client reaches the site's content: YES (some path the client can force ends in content), NO
(no path does), or MAYBE (it depends on something the configuration does not tell: a file on
disk, a variable of an unknown module, an external auth service). Each answer carries the path
of directives that led there.

The order is nginx's: the handshake's verdict (495/496/497), the server-level rewrite phase,
location selection, `limit_except`, the location's rewrite phase (`if` switches the
configuration), realip, the access phase (`allow`/`deny`, `auth_request`, `satisfy`),
`try_files`, the content handler; every status goes through `error_page` (an internal redirect
to a URI runs the server's checks again, a named location skips them).
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
import weakref
from dataclasses import dataclass, field, replace
from typing import Callable, Iterator

from .model import (LUA_PHASES, Location, Scope, Server, Stmt, StreamServer, VariableMap,
                    flatten, lua_may_check, walk)
from . import pcre

YES, MAYBE, NO = "yes", "maybe", "no"
MAX_REDIRECTS = 10  # NGX_HTTP_MAX_URI_CHANGES
MAX_PATHS = 512  # forks per request before the answer becomes MAYBE
UPSTREAM = ("proxy_pass", "fastcgi_pass", "uwsgi_pass", "scgi_pass", "grpc_pass",
            "memcached_pass")
FORWARDING = ("proxy_set_header", "fastcgi_param", "uwsgi_param", "scgi_param",
              "grpc_set_header")
REWRITE_DIRECTIVES = ("if", "return", "rewrite", "set", "break")
# Addresses the simulated clients connect from (documentation ranges and a Cloudflare edge).
DIRECT_ADDRESS = "198.51.100.7"
CLOUDFLARE_ADDRESS = "173.245.48.5"
VISITOR_ADDRESS = "203.0.113.50"  # what Cloudflare puts in CF-Connecting-IP
SITE_PAGE = re.compile(r"(^|/)(index\.[a-z]+)?$")
ACME = "/.well-known/acme-challenge/"
# Where distributions put nginx's welcome page (Debian's sites-available/default, the docker
# image's conf.d/default.conf): a catch-all server's static files there are no site's content.
STOCK_ROOTS = frozenset(("/var/www/html", "/usr/share/nginx/html"))


class _Attacker:
    """A value the client chooses (a header, a self-signed certificate's names)."""

    def __repr__(self) -> str:
        return "<client-chosen>"


class _Unknown:
    """A value the configuration does not tell (a module's variable, a file test)."""

    def __repr__(self) -> str:
        return "<unknown>"


class _Expected:
    """What the valid client's certificate holds: it satisfies the server's own pins."""

    def __repr__(self) -> str:
        return "<expected>"


ATTACKER, UNKNOWN, EXPECTED = _Attacker(), _Unknown(), _Expected()
Value = object  # str | ATTACKER | UNKNOWN | EXPECTED


@dataclass(frozen=True, slots=True)
class Client:
    """Who sends the request: what the handshake left in $ssl_client_*, from where, how."""

    kind: str  # none, failed, other-ca, valid, plain
    verify: str  # $ssl_client_verify ("" over plain HTTP)
    via_cloudflare: bool = False
    method: str = "GET"
    tunnel: bool = False  # cloudflared on this host: plain HTTP from the loopback address

    @property
    def label(self) -> str:
        where = "through Cloudflare" if self.via_cloudflare else "directly"
        return {"none": "a client without a certificate",
                "failed": "a client with a self-signed certificate",
                "other-ca": "a client with another CA's certificate",
                "valid": "the valid client",
                "plain": "a plain-HTTP client",
                "malformed": "a client sending a malformed request",
                "tls-port-plain": "a plain-HTTP client on the TLS port",
                "probe": "any client"}[self.kind] + f" ({self.method}, {where})"


@dataclass(frozen=True, slots=True)
class Step:
    stmt: Stmt | None
    label: str
    file: str | None = None
    line: int | None = None
    passed: bool = False  # an `if` whose condition was false: the request went past it
    status: int = 0  # for an error_page step: the status it took

    @property
    def where(self) -> tuple[str | None, int | None]:
        if self.stmt is not None:
            return self.stmt.file, self.stmt.line
        return self.file, self.line


@dataclass(slots=True)
class Outcome:
    """Where one path ended."""

    kind: str  # content, errorfile, reject, redirect, text, close, unknown
    status: int
    stmt: Stmt | None  # the directive that answered (or served)
    location: Location | None
    trace: tuple[Step, ...]
    reason: str = ""

    @property
    def content(self) -> bool:
        return self.kind == "content"

    @property
    def spoofed(self) -> bool:
        """The path depends on an address the client forged through realip (MTLS107)."""
        return any(step.label == SPOOFED for step in self.trace)

    def through(self, name: str) -> Stmt | None:
        """The first directive of this name on the path (error_page, rewrite, ...)."""
        return next((s.stmt for s in self.trace if s.stmt is not None and s.stmt.name == name),
                    None)

    def describe(self) -> str:
        return {"content": "content served", "errorfile": f"error file ({self.status})",
                "reject": f"rejected ({self.status})", "redirect": f"redirect ({self.status})",
                "text": f"fixed text ({self.status})", "close": "connection closed (444)",
                "unknown": f"unknown ({self.reason})"}[self.kind]


@dataclass(slots=True)
class Result:
    """Does the client reach content? With the path that shows it (or the refusal)."""

    verdict: str
    witness: Outcome

    @staticmethod
    def leaf(outcome: Outcome) -> "Result":
        if outcome.kind == "unknown":
            return Result(MAYBE, outcome)
        return Result(YES if outcome.content else NO, outcome)


def client_choice(results: list[Result]) -> Result:
    """The client picks the branch (a header it sends, the URI it asks)."""
    for verdict in (YES, MAYBE):
        for result in results:
            if result.verdict == verdict:
                return result
    return results[0]


def unknown_choice(results: list[Result]) -> Result:
    """Something outside the configuration picks the branch: content only if every branch
    gives it, none only if no branch does. When every branch gives content, the path shown
    is one through an error_page if there is one: that page is what serves content either
    way."""
    verdicts = {r.verdict for r in results}
    if verdicts == {YES}:
        return next((r for r in results if r.witness.through("error_page")), results[0])
    if verdicts == {NO}:
        return results[0]
    return Result(MAYBE, next(r for r in results if r.verdict != NO).witness)


# --------------------------------------------------------------------------- configuration


@dataclass(slots=True, eq=False)
class Conf:
    """One level of configuration a request can be handled with: http, server, a location, an
    `if` block inside a location, or a `limit_except` block. Lookups fall back to the parent,
    as ngx_http_core_merge_loc_conf merges most directives."""

    scope: Scope
    parent: "Conf | None"
    stmt: Stmt | None = None  # the block (location, if, limit_except); None for server/http
    location: Location | None = None

    memo: dict = field(default_factory=dict)

    def get(self, name: str) -> Stmt | None:
        conf: Conf | None = self
        while conf is not None:
            found = conf.scope.first(name)
            if found is not None:
                return found
            conf = conf.parent
        return None

    def group(self, *names: str) -> list[Stmt]:
        """A list directive group (error_page; allow+deny) from the nearest level setting
        any of it: a level that sets one replaces its parent's whole list."""
        if names in self.memo:
            return self.memo[names]
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


def _own(conf: Conf, name: str) -> Stmt | None:
    return conf.scope.first(name)


@dataclass(slots=True)
class State:
    uri: str
    method: str
    internal: bool = False
    redirects: int = 0
    error_page_used: bool = False
    from_error_page: str | None = None  # the literal URI an error_page sent us to
    variables: dict[str, Value] = field(default_factory=dict)
    remote_addr: Value = DIRECT_ADDRESS
    realip_done: bool = False
    subrequest: bool = False  # auth_request's: the access phase does not run for it
    uri_changed: bool = False  # r->uri_changed: a location's rewrite (even to the same URI)
    trace: tuple[Step, ...] = ()

    def step(self, stmt: Stmt | None, label: str, passed: bool = False) -> "State":
        return replace(self, trace=self.trace + (Step(stmt, label, passed=passed),),
                       variables=dict(self.variables))


class Budget:
    def __init__(self) -> None:
        self.paths = 0


# --------------------------------------------------------------------------- the simulator


class Simulator:
    """Requests through one server. Build once per server; `request()` per client and URI."""

    def __init__(self, server: Server, maps: dict[str, VariableMap] | None = None,
                 geos: dict[str, "Geo"] | None = None, issuers: frozenset[str] = frozenset()):
        self.server = server
        # The names (RFC 2253, as $ssl_client_i_dn shows them) of the CAs that may issue the
        # valid client's certificate, when the CA files tell.
        self.issuers = issuers
        self.http_conf = Conf(server.http, None)
        self.server_conf = Conf(server.scope, self.http_conf)
        self.maps = maps if maps is not None else server.maps
        self.geos = geos if geos is not None else geos_of(server.http)
        self.names = [n for n in server.names if n and n != "_"]
        # $host is the name the client sends: one of the server's names, or any name at all
        # for the default server of a port.
        self.host_chosen = len(set(self.names)) > 1 or any(
            not EXACT_NAME.fullmatch(n) for n in self.names) or _is_default(server)
        self.confs: dict[int, Conf] = {}
        for location in server.locations:
            self._compile(location, self.server_conf)
        self.server_stmts = [s for s in flatten(server.stmt.block)]
        mode = self.mode = server.verification.mode
        # Under `optional` with no check of its own, a server that hands $ssl_client_verify
        # to its application leaves the refusal to it: what the application does is unknown.
        self.delegates = mode in ("optional", "optional_no_ca") and \
            server.written_check() is None
        self.probing = False  # every check taken both ways: can anything be served?
        self.stock_site = stock_site(server)

    def _compile(self, location: Location, parent: Conf) -> None:
        conf = Conf(location.scope, parent, location.stmt, location)
        self.confs[id(location)] = conf
        for child in location.locations:
            self._compile(child, conf)

    # ------------------------------------------------------------------ entry points

    def request(self, client: Client, uri: str, tls: bool = True) -> Result:
        """What `client` gets for `uri` on this server."""
        self._client, self._tls, self._budget = client, tls, Budget()
        state = State(uri=uri, method=client.method)
        state.remote_addr = self._connection_address()
        state = self._realip(state, self.server_conf)
        if client.kind in ("malformed", "tls-port-plain"):
            # 400 is raised while reading the headers, 497 for plain HTTP on a TLS port:
            # both before any certificate check, answered with the server's error pages.
            status = 400 if client.kind == "malformed" else 497
            step = state.step(None, "malformed request: 400" if status == 400 else
                              "plain HTTP sent to the TLS port: 497")
            return self._finalize(step, self.server_conf, status, None)
        if tls and self.mode in ("on", "optional", "optional_no_ca"):
            status = self._handshake_status(client)
            if status:
                setting = self.server.verification.setting
                step = state.step(setting.stmt if setting else None,
                                  f"certificate check answers {status}")
                return self._finalize(step, self.server_conf, status, None)
        return self._server_rewrite(state)

    def _handshake_status(self, client: Client) -> int:
        if client.kind == "none" and self.mode == "on":
            return 496
        if client.kind == "failed" and self.mode in ("on", "optional"):
            return 495
        return 0

    # ------------------------------------------------------------------ phases

    def _server_rewrite(self, state: State) -> Result:
        return self._rewrite(self.server_stmts, state, self.server_conf, server_level=True,
                             done=lambda st, conf, how: self._find_location(st))

    def _find_location(self, state: State) -> Result:
        location = self.server.find_location(state.uri)
        if location is None:
            conf = self.server_conf
            state = state.step(None, f"no location matches {state.uri}: the server's root")
            return self._location_rewrite(state, conf, None)
        conf = self.confs[id(location)]
        state = state.step(location.stmt, f"location {location.label}")
        return self._enter(state, conf)

    def _enter(self, state: State, conf: Conf) -> Result:
        location = conf.location
        if location is not None and location.scope.first("internal") is not None \
                and not state.internal:
            return self._finalize(state.step(location.scope.first("internal"),
                                             "internal location: 404 to a client"),
                                  conf, 404, None)
        limit = self._limit_except(conf, state.method)
        if limit is not None:
            state = state.step(limit.stmt, f"{state.method} is not in limit_except: "
                               "its block's configuration applies (no rewrite directives)")
            return self._access(state, limit)
        return self._location_rewrite(state, conf, location)

    def _limit_except(self, conf: Conf, method: str) -> Conf | None:
        if conf.location is None:
            return None
        for stmt in conf.location.scope.blocks:
            if stmt.name == "limit_except":
                allowed = {m.upper() for m in stmt.args}
                if "GET" in allowed:
                    allowed.add("HEAD")
                if method.upper() not in allowed:
                    return Conf(Scope(stmt.block), conf, stmt, conf.location)
        return None

    def _location_rewrite(self, state: State, conf: Conf, location: Location | None) -> Result:
        if location is None:
            # No location: the server's own configuration handles the request, and the
            # location rewrite phase is skipped for it (ngx_http_rewrite_handler).
            return self._access(state, conf)
        stmts = list(flatten(location.stmt.block))
        state = replace(state, uri_changed=False, variables=dict(state.variables))

        def done(st: State, active: Conf, how: str) -> Result:
            # ngx_http_core_post_rewrite_phase: a rewrite (other than `break`) chooses the
            # location again, even when it wrote the same URI; `break` cancels it.
            if how != "break" and st.uri_changed:
                return self._relocate(st)
            return self._access(st, active)

        return self._rewrite(stmts, state, conf, server_level=False, done=done)

    def _relocate(self, state: State) -> Result:
        state.redirects += 1
        if state.redirects > MAX_REDIRECTS:
            return Result.leaf(Outcome("reject", 500, None, None, state.trace,
                                       "rewrite or internal redirection cycle"))
        return self._find_location(state)

    def _internal_redirect(self, state: State, uri: str) -> Result:
        state.redirects += 1
        if state.redirects > MAX_REDIRECTS:
            return Result.leaf(Outcome("reject", 500, None, None, state.trace,
                                       "rewrite or internal redirection cycle"))
        state.internal = True
        state.uri = uri.split("?", 1)[0]
        return self._server_rewrite(state)

    def _named(self, state: State, name: str) -> Result:
        location = self.server.named_location(name)
        if location is None:
            return Result.leaf(Outcome("reject", 500, None, None, state.trace,
                                       f"no location @{name}"))
        state.internal = True
        conf = self.confs[id(location)]
        state = state.step(location.stmt, f"named location @{name} (server checks skipped)")
        return self._location_rewrite(state, conf, location)

    # ------------------------------------------------------------------ rewrite module

    def _rewrite(self, stmts: list[Stmt], state: State, conf: Conf, server_level: bool,
                 done: Callable[[State, Conf, str], Result], start: int = 0) -> Result:
        """Run rewrite-module directives from `stmts[start:]`; `done(state, conf, how)` goes
        on when they finish (how: "end", "break", "last")."""
        for index in range(start, len(stmts)):
            stmt = stmts[index]
            name = stmt.name
            if name == "if" and stmt.block is not None:
                truth, why = self._condition(stmt.args, state)

                def inside(st: State, stmt=stmt, index=index) -> Result:
                    st = st.step(stmt, f"if ({' '.join(stmt.args)}) is true")
                    self._capture(stmt.args, st, matched=not _negated(stmt.args))
                    block_conf = conf if server_level else Conf(Scope(stmt.block), conf, stmt,
                                                                 conf.location)

                    def after(st2: State, active: Conf, how: str) -> Result:
                        if how in ("break", "last"):
                            return done(st2, active, how)
                        return self._rewrite(stmts, st2, active, server_level, done, index + 1)

                    return self._rewrite(list(flatten(stmt.block)), st, block_conf,
                                         server_level, after)

                def outside(st: State, stmt=stmt, index=index) -> Result:
                    st = st.step(stmt, f"if ({' '.join(stmt.args)}) is false", passed=True)
                    self._capture(stmt.args, st, matched=_negated(stmt.args))
                    return self._rewrite(stmts, st, conf, server_level, done, index + 1)

                return self._fork(truth, why, state, inside, outside)
            if name == "return" and stmt.args:
                return self._return(state.step(stmt, "return " + " ".join(stmt.args)), conf,
                                    stmt)
            if name == "break":
                return done(state.step(stmt, "break"), conf, "break")
            if name == "set" and len(stmt.args) >= 2:
                state = state.step(stmt, f"set {stmt.args[0]}")
                state.variables[stmt.args[0].lstrip("$")] = self._interpolate(stmt.args[1],
                                                                              state)
                continue
            if name == "rewrite" and len(stmt.args) >= 2:
                return self._rewrite_directive(stmts, index, state, conf, server_level, done)
        return done(state, conf, "end")

    def _rewrite_directive(self, stmts, index, state, conf, server_level, done) -> Result:
        stmt = stmts[index]
        pattern, replacement = stmt.args[0], stmt.args[1]
        flag = stmt.args[2] if len(stmt.args) > 2 else ""
        compiled = pcre.compile(pattern)
        if compiled is None:
            return Result.leaf(Outcome("unknown", 0, stmt, None, state.trace,
                                       f"regex {pattern!r} cannot be evaluated"))
        match = compiled.search(state.uri)
        if match is None:
            return self._rewrite(stmts, state, conf, server_level, done, index + 1)
        state = state.step(stmt, f"rewrite {pattern} matches {state.uri}")
        target = self._interpolate(pcre.expand(replacement, match), state)
        redirect = flag in ("redirect", "permanent") or replacement.startswith(
            ("http://", "https://", "$scheme"))
        if redirect:
            return self._finalize(state, conf, 301 if flag == "permanent" else 302, stmt)
        if not isinstance(target, str):
            return Result.leaf(Outcome("unknown", 0, stmt, conf.location, state.trace,
                                       "the rewritten URI depends on the request"))
        state.uri = target.split("?", 1)[0]
        state.internal = True  # ngx_http_script_regex_end_code: `internal` locations serve it
        state.uri_changed = flag != "break"
        if flag == "break":
            return done(state, conf, "break")
        if flag == "last":
            return done(state, conf, "last")
        return self._rewrite(stmts, state, conf, server_level, done, index + 1)

    def _return(self, state: State, conf: Conf, stmt: Stmt) -> Result:
        """ngx_http_script_return_code: a redirect, or a code of 400 and above without text,
        is a status that error_page may take; anything else is sent as it is."""
        code_text = stmt.args[0]
        if not code_text.isdigit():  # `return URL`: 302
            return self._finalize(state, conf, 302, stmt)
        code = int(code_text)
        text = stmt.args[1] if len(stmt.args) > 1 else None
        if code == 444:
            return Result.leaf(Outcome("close", 444, stmt, conf.location, state.trace))
        if 301 <= code <= 308 and code != 304 or (code >= 400 and text is None):
            return self._finalize(state, conf, code, stmt)
        return Result.leaf(Outcome("text", code, stmt, conf.location, state.trace))

    # ------------------------------------------------------------------ conditions and values

    def _fork(self, truth: object, why: str, state: State,
              if_true: Callable[[State], Result], if_false: Callable[[State], Result]) -> Result:
        if truth is True:
            return if_true(state)
        if truth is False:
            return if_false(state)
        self._budget.paths += 1
        if self._budget.paths > MAX_PATHS:
            return Result.leaf(Outcome("unknown", 0, None, None, state.trace,
                                       "too many paths to follow"))
        results = [if_true(state.step(None, why)), if_false(state.step(None, why))]
        chosen = client_choice(results) if truth is ATTACKER else unknown_choice(results)
        if chosen.verdict == MAYBE and not chosen.witness.reason:  # say what it depends on
            chosen = Result(MAYBE, replace(chosen.witness, reason=why))
        return chosen

    def _condition(self, args: list[str], state: State) -> tuple[object, str]:
        """True, False, ATTACKER (the client decides) or UNKNOWN; and why, for a fork."""
        if self.probing:
            return UNKNOWN, "any request"
        if not args:
            return UNKNOWN, "an empty condition"
        if args[0] in ("-f", "!-f", "-d", "!-d", "-e", "!-e", "-x", "!-x"):
            return UNKNOWN, f"`{' '.join(args)}` depends on the file system"
        if len(args) == 3 and RAW_URI.fullmatch(args[0]):
            truths = {self._condition([raw] + args[1:], state)[0]
                      for raw in self._raw_uris(state.uri, args[2:])}
            if len(truths) > 1:
                return ATTACKER, f"the client chooses how to write the URI ({args[0]})"
            return truths.pop(), ""
        value = self._tested(args[0], state)
        chosen = SPOOFED if self._forged(args[0], state) else f"the client chooses {args[0]}"
        if len(args) == 1:
            if isinstance(value, str):
                return value not in ("", "0"), ""
            if value is EXPECTED:
                return True, ""
            return (ATTACKER, chosen) if value is ATTACKER else (UNKNOWN,
                                                                  f"{args[0]} is not known")
        if len(args) != 3:
            return UNKNOWN, f"condition {' '.join(args)}"
        op, operand = args[1], self._interpolate(args[2], state)
        negate = op.startswith("!")
        if not isinstance(operand, str):
            return UNKNOWN, f"{args[2]} is not known"
        if op in ("=", "!="):
            if isinstance(value, str):
                return (value == operand) != negate, ""
            if (value is EXPECTED or value is ATTACKER) and operand.startswith("/") \
                    and args[0] in ("$ssl_client_s_dn", "$ssl_client_i_dn"):
                # nginx writes these as RFC 2253 (CN=...), never /CN=..., whatever names a
                # client's certificate holds
                return negate, ""
            if value is EXPECTED:  # non-empty, and what the configuration pins
                return (operand != "") != negate, ""
            if value is ATTACKER and not _looks_secret(operand):
                return ATTACKER, chosen
            return UNKNOWN, f"{args[0]} is not known"
        if op in ("~", "~*", "!~", "!~*"):
            compiled = pcre.compile(operand, ignore_case="*" in op)
            if compiled is None:
                return UNKNOWN, f"regex {operand!r} cannot be evaluated"
            if isinstance(value, str):
                return (compiled.search(value) is not None) != negate, ""
            if value is EXPECTED:  # a test for emptiness fails, a pin matches
                return (compiled.fullmatch("") is None) != negate, ""
            if value is ATTACKER:
                return ATTACKER, chosen
            return UNKNOWN, f"{args[0]} is not known"
        return UNKNOWN, f"operator {op}"

    def _capture(self, args: list[str], state: State, matched: bool) -> None:
        """A regex condition that matched sets $1..$9 and its named groups for the directives
        after it (ngx_http_regex_exec); one that did not match leaves them as they were."""
        if not matched or len(args) != 3 or "~" not in args[1]:
            return
        compiled = pcre.compile(args[2], ignore_case="*" in args[1])
        if compiled is None:
            return
        value = self._interpolate(args[0], state)
        match = compiled.search(value) if isinstance(value, str) else None
        if match is not None:
            state.variables.update(_groups(match))
            return
        # the client's chosen value, or the valid certificate's: a part of it
        part = value if isinstance(value, (_Attacker, _Expected)) else UNKNOWN
        for name in [str(i) for i in range(compiled.groups + 1)] + list(compiled.groupindex):
            state.variables[name] = part

    @staticmethod
    def _raw_uris(uri: str, patterns: list[str]) -> list[str]:
        """What the client can write in the request line ($request_uri) for a request that
        nginx normalizes to `uri`: the URI itself, with `/.` in front, a string each pattern
        names, and one each regex matches followed by `/..` back to the URI (nginx resolves
        dot segments before it chooses a location; $request_uri keeps them)."""
        raws = [uri, "/." + uri]
        for pattern in patterns:
            start = pattern if pattern.startswith("/") and "\\" not in pattern else \
                pcre.example(pattern)
            if start:
                start = start.split("?", 1)[0]
                raws.append(start)
                raws.append(start.rstrip("/") + "/.." * start.strip("/").count("/")
                            + "/.." + uri)
        wanted = posixpath.normpath(uri)
        return [r for r in dict.fromkeys(raws) if posixpath.normpath(r) == wanted]

    def _tested(self, text: str, state: State) -> Value:
        """The value an `if` or a `map` tests. The query string is the client's to write
        (elsewhere, as in `/index.php?$args`, the simulated request has none)."""
        if QUERY.fullmatch(text):
            return ATTACKER
        return self._interpolate(text, state)

    def _forged(self, text: str, state: State) -> bool:
        """Whether this value is the client's forged address (realip trusting it), or a
        `geo` on it."""
        if state.remote_addr is not ATTACKER:
            return False
        names = {m.group(1) or m.group(2) for m in VARIABLE.finditer(text)}
        return "remote_addr" in names or any(
            "$" + n in self.geos and self.geos["$" + n].source == "$remote_addr"
            for n in names)

    def _interpolate(self, text: str, state: State) -> Value:
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
        client = self._client
        key = "$" + name
        if key in self.maps:
            return self._map(key, state)
        if key in self.geos:
            return self.geos[key].lookup(self._geo_source(self.geos[key], state))
        if name.isdigit():
            return UNKNOWN  # a regex capture from a condition we do not track
        if name == "ssl_client_verify":
            return client.verify
        if name.startswith("ssl_client_"):
            return self._certificate_variable(name[len("ssl_client_"):])
        if name in ("uri", "document_uri"):
            return state.uri
        if name == "request_uri":
            return state.uri
        if name in ("args", "query_string", "is_args"):
            return ""
        if name == "request_method":
            return state.method
        if name == "scheme":
            return "https" if self._tls else "http"
        if name == "https":
            return "on" if self._tls else ""
        if name in ("host", "http_host") and self.host_chosen:
            return ATTACKER
        if name in ("host", "http_host", "server_name", "ssl_server_name"):
            if name == "ssl_server_name" and (not self._tls or client.kind == "other-ca"):
                return ""
            return self.names[0] if self.names else UNKNOWN
        if name == "remote_addr" or name == "binary_remote_addr":
            return state.remote_addr
        if name == "realip_remote_addr":
            return self._connection_address()
        if name.startswith(("http_", "cookie_", "arg_", "sent_http_")):
            if client.kind == "valid":
                if name == "http_cf_connecting_ip":  # Cloudflare's edge and cloudflared
                    return VISITOR_ADDRESS
                if name == "http_cf_ray":
                    return "8f0e1d2c3b4a5968-AMS"
                return UNKNOWN
            if client.via_cloudflare and name == "http_cf_connecting_ip":
                return VISITOR_ADDRESS
            return ATTACKER
        return UNKNOWN

    def _connection_address(self) -> Value:
        """The address the TCP connection comes from (before realip)."""
        client = self._client
        if client.tunnel:
            return "127.0.0.1"  # cloudflared on this host
        if client.via_cloudflare:
            return CLOUDFLARE_ADDRESS
        if client.kind in ("valid", "probe"):
            return UNKNOWN  # a client of an internal CA may come from anywhere
        return DIRECT_ADDRESS

    def _certificate_variable(self, name: str) -> Value:
        client = self._client
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

    def _map(self, key: str, state: State) -> Value:
        variable_map = self.maps[key]
        if RAW_URI.fullmatch(variable_map.source):
            keys = list(variable_map.exact) + [p for p, _, _ in variable_map.regexes]
            found_values = {variable_map.lookup(raw) for raw in self._raw_uris(state.uri, keys)}
            if len(found_values) > 1 or None in found_values:
                return ATTACKER if None not in found_values else UNKNOWN
            return self._interpolate(found_values.pop(), state)  # type: ignore[arg-type]
        source = self._tested(variable_map.source, state)
        if isinstance(source, str):
            found, match = variable_map.lookup_match(source)
            if found is None:
                return UNKNOWN
            if match is not None:  # the value may name the key's captures ($1, $name)
                state = replace(state, variables={**state.variables, **_groups(match)})
            return self._interpolate(found, state)
        if source is EXPECTED and variable_map.source == "$ssl_client_verify":
            found = variable_map.lookup("SUCCESS")  # what the valid client's value maps to
            return UNKNOWN if found is None else self._interpolate(found, state)
        if source is EXPECTED:
            return UNKNOWN
        return source

    def _geo_source(self, geo: "Geo", state: State) -> Value:
        if geo.source == "$remote_addr":
            return state.remote_addr
        return self._interpolate(geo.source, state)

    # ------------------------------------------------------------------ realip and access

    def _realip(self, state: State, conf: Conf) -> State:
        if state.realip_done:
            return state
        header = conf.get("real_ip_header")
        trusted = conf.group("set_real_ip_from")
        if header is None or not trusted or not header.args:
            return state
        state = replace(state, realip_done=True, variables=dict(state.variables))
        connection = self._connection_address()
        if not isinstance(connection, str) or not any(
                _in_network(connection, s.args[0]) for s in trusted if s.args):
            return state
        value = self.variable("http_" + header.args[0].lower().replace("-", "_"), state)
        if header.args[0].lower() in ("x-real-ip", "x-forwarded-for", "cf-connecting-ip") \
                or isinstance(value, str):
            state.remote_addr = value if not isinstance(value, _Unknown) else UNKNOWN
            step = next(s for s in trusted if s.args and _in_network(connection, s.args[0]))
            state = state.step(step, f"realip: $remote_addr from {header.args[0]}")
        return state

    def _access(self, state: State, conf: Conf) -> Result:
        state = self._realip(state, conf)
        if state.subrequest:
            return self._content(state, conf)
        checks: list[Check] = []
        rules = conf.group("allow", "deny")
        if rules:
            allowed, stmt = self._access_rules(rules, state.remote_addr)
            checks.append(Check("allow/deny", allowed, stmt or rules[-1], 403))
        auth = conf.get("auth_request")
        if auth is not None and auth.args and auth.args[0] != "off":
            allowed, status, page = self._auth_request(auth, state)
            checks.append(Check("auth_request", allowed, auth, status, page))
        for phase in LUA_PHASES:
            lua = conf.group(*phase)
            if lua and lua_may_check(lua[-1]):
                # Its code decides; the valid client is taken to pass (as the server means).
                checks.append(Check(lua[-1].name, True if self._client.kind == "valid"
                                    else UNKNOWN, lua[-1], 403))
        basic = conf.get("auth_basic")
        if basic is not None and basic.args and basic.args[0] != "off":
            # Cloudflare's visitors may hold the password; a client going around it does not.
            checks.append(Check("auth_basic", UNKNOWN if self._client.kind == "valid"
                                else False, basic, 401))
        if not checks:
            return self._content(state, conf)
        if self.probing:
            checks = [replace(c, allowed=UNKNOWN) for c in checks]
        satisfy = conf.get("satisfy")
        return self._decide_access(state, conf, checks,
                                   satisfy is not None and satisfy.args[:1] == ["any"])

    def _decide_access(self, state: State, conf: Conf, checks: list[Check],
                       any_mode: bool) -> Result:
        """ngx_http_core_access_phase: with `satisfy all` every check must allow, with
        `satisfy any` one is enough."""
        for index, check in enumerate(checks):
            if check.allowed in (True, False):
                continue

            def settle(value: bool, index: int = index) -> Callable[[State], Result]:
                def go(st: State) -> Result:
                    rest = list(checks)
                    rest[index] = replace(rest[index], allowed=value)
                    return self._decide_access(st, conf, rest, any_mode)
                return go

            why = (SPOOFED if check.what == "allow/deny" and check.allowed is ATTACKER
                   else f"`{check.what}` at {check.stmt.file}:{check.stmt.line} depends on the "
                   "request")
            return self._fork(check.allowed, why, state, settle(True), settle(False))
        passed = [c for c in checks if c.allowed is True]
        failed = [c for c in checks if c.allowed is False]
        if (any_mode and passed) or not failed:
            for check in passed:
                state = state.step(check.stmt, f"{check.what} allows")
                if check.page is not None:  # the subrequest's error page allowed it
                    state = replace(state, trace=state.trace + (replace(
                        check.page, label="the auth subrequest's " + check.page.label),))
            return self._content(state, conf)
        check = failed[0]
        state = state.step(check.stmt, f"{check.what} denies")
        if check.page is not None:  # the auth subrequest's own check that refused
            state = replace(state, trace=state.trace + (check.page,))
        return self._finalize(state, conf, check.status, check.stmt)

    def _access_rules(self, rules: list[Stmt], address: Value) -> tuple[object, Stmt | None]:
        """ngx_http_access: the first rule that matches the address decides; none: allowed."""
        if not isinstance(address, str):
            if any(r.name == "allow" for r in rules):
                return (ATTACKER if address is ATTACKER else UNKNOWN), None
            return False, rules[0]
        rule = deciding_rule(rules, address)
        return (rule is None or rule.name == "allow"), rule

    def _auth_request(self, stmt: Stmt, state: State) -> tuple[object, int, Step | None]:
        """The subrequest's answer: 2xx allows, 401/403 deny, anything else is a 500. An
        error_page may answer the subrequest too, with its own status (`=`) or the original
        one; the step returned says so when it made the difference."""
        sub = State(uri=stmt.args[0].split("?", 1)[0], method="GET", internal=True,
                    redirects=state.redirects, subrequest=True,
                    remote_addr=state.remote_addr, realip_done=state.realip_done,
                    variables=dict(state.variables))
        result = self._server_rewrite(sub)
        outcome = result.witness
        if result.verdict == MAYBE:
            return UNKNOWN, 403, None
        page = next((s for s in reversed(outcome.trace)
                     if s.stmt is not None and s.stmt.name == "error_page"), None)
        if outcome.kind == "content" and outcome.stmt is not None and \
                outcome.stmt.name in UPSTREAM and page is None:
            # The auth location's own upstream (an auth service): its answer is not in the
            # configuration. (Sent there by an error_page, it is the site itself: 200.)
            return UNKNOWN, 403, None
        status = outcome.status if outcome.kind != "content" else 200
        if page is not None:
            equals = next((a for a in page.stmt.args if a.startswith("=")), None)  # type: ignore[union-attr]
            if equals is None:
                status = page.status  # the subrequest keeps its status
            elif len(equals) > 1 and equals[1:].isdigit():
                status = int(equals[1:])
        if 200 <= status < 300:
            return True, 0, page
        refusal = next((s for s in reversed(outcome.trace)
                        if s.stmt is not None and s.stmt.name == "if" and not s.passed), None)
        if refusal is not None:  # the subrequest's check that answered, shown on the path
            refusal = replace(refusal, label="the auth subrequest's " + refusal.label)
        return False, (status if status in (401, 403) else 500), refusal

    # ------------------------------------------------------------------ content

    def _content(self, state: State, conf: Conf) -> Result:
        location = conf.location
        try_files = _own_chain(conf, "try_files")
        if try_files is not None and len(try_files.args) >= 2:
            return self._try_files(state, conf, try_files)
        handler = next((conf.get(name) for name in UPSTREAM
                        if _own_chain(conf, name) is not None), None)
        if handler is not None:
            state = state.step(handler, f"{handler.name} {' '.join(handler.args)}")
            served = Result.leaf(Outcome("content", 200, handler, location, state.trace))
            intercept = conf.get(handler.name.replace("_pass", "_intercept_errors"))
            if intercept is not None and intercept.args[:1] == ["on"]:
                # The application's own error statuses go through error_page: when one serves
                # content, the client gets content whatever the application answers.
                codes = sorted({int(a) for page in conf.group("error_page")
                                for a in page.args[:-1] if a.isdigit()})
                for code in codes:
                    answer = self._finalize(state.step(intercept, f"the upstream answers {code}"),
                                            conf, code, handler)
                    if answer.verdict == YES:
                        return answer
            forwarded = self._forwarded_check(conf) if self.delegates else None
            if forwarded is not None and self._client.kind not in ("valid", "probe"):
                return Result.leaf(Outcome(
                    "unknown", 0, forwarded, location, state.trace + (Step(forwarded, (
                        "the application receives the certificate check and may refuse")),),
                    f"the application receives {forwarded.args[-1]} "
                    f"({forwarded.file}:{forwarded.line}) and may refuse"))
            return served
        return self._static(state, conf)

    @staticmethod
    def _forwarded_check(conf: Conf) -> Stmt | None:
        """A header or parameter handing the verification result to the application (which
        may refuse, as nginx cannot tell)."""
        for stmt in conf.group(*FORWARDING):
            if any("$ssl_client_verify" in a for a in stmt.args[1:]):
                return stmt
        return None

    def _static(self, state: State, conf: Conf) -> Result:
        location = conf.location
        for name in ("stub_status", "empty_gif"):
            found = _own_chain(conf, name)
            if found is not None:
                return Result.leaf(Outcome("text", 200, found, location, state.trace))
        root = conf.get("alias") if _own_chain(conf, "alias") is not None else conf.get("root")
        not_site = self._not_site_files(state, location) or self._stock_page(root)
        if not_site:
            return Result.leaf(Outcome("errorfile", 200, root, location, state.trace, not_site))
        index = conf.get("index")
        name = index.args[0] if index is not None and index.args else "index.html"
        if state.uri.endswith("/") and "$" not in name:
            # ngx_http_index_handler: a directory's index file is an internal redirect, which
            # chooses the location (and runs the server's checks) again.
            target = name if name.startswith("/") else state.uri + name
            state = state.step(index, f"index file: internal redirect to {target}")
            return self._internal_redirect(state, target)
        label = f"static files from {root.name} {root.args[0]}" if root is not None and \
            root.args else "static files from nginx's default root"
        state = state.step(root, label)
        return Result.leaf(Outcome("content", 200, root, location, state.trace))

    @staticmethod
    def _not_site_files(state: State, location: Location | None) -> str:
        """Why static files served here are not the site's content: ACME challenge tokens,
        or a dedicated error file an error_page sent the request to."""
        if state.uri.startswith(ACME) or (location is not None and
                                          location.pattern.startswith(ACME)):
            return "ACME challenge files"
        if state.from_error_page and not SITE_PAGE.search(state.from_error_page):
            return "a dedicated error file"
        return ""

    def _stock_page(self, root: Stmt | None) -> str:
        """Why a catch-all server's static files are not the site's content: the
        distribution's welcome page (see stock_site)."""
        return "the distribution's default page" if self.stock_site and root is not None \
            and _stock_root(root) else ""

    def _try_files(self, state: State, conf: Conf, stmt: Stmt) -> Result:
        state = state.step(stmt, "try_files " + " ".join(stmt.args))
        fallback = stmt.args[-1]
        root = conf.get("alias") if _own_chain(conf, "alias") is not None else conf.get("root")
        not_site = self._not_site_files(state, conf.location) or self._stock_page(root)
        files = Result.leaf(Outcome("errorfile" if not_site else "content", 200, stmt,
                                    conf.location, state.trace, not_site))
        application = next((conf.get(name) for name in UPSTREAM
                            if _own_chain(conf, name) is not None), None)
        if application is not None and not not_site:  # the application serves what is found
            found = state.step(application, f"{application.name} {' '.join(application.args)}")
            files = Result.leaf(Outcome("content", 200, application, conf.location, found.trace))
        if fallback.startswith("="):
            code = int(fallback[1:]) if fallback[1:].isdigit() else 404
            other = self._finalize(state, conf, code, stmt)
        elif fallback.startswith("@"):
            other = self._named(state, fallback[1:])
        else:
            target = self._interpolate(fallback, state)
            if not isinstance(target, str):
                other = Result.leaf(Outcome("unknown", 0, stmt, conf.location, state.trace,
                                            "try_files falls back to a computed URI"))
            else:
                other = self._internal_redirect(replace(state, variables=dict(
                    state.variables)), target)
        # Which files exist is the file system's business, unless the configuration names
        # one outright (`try_files /index.html ...`): a site has the files it names; nor
        # when an application serves what is found (`try_files $uri =404;` or Debian's
        # `try_files $fastcgi_script_name =404;` before `fastcgi_pass`): that check only
        # guards the application, and a client asks for a script that exists (index.php).
        # The fallback first, so that when both serve content the path shown is the one the
        # configuration decides.
        if state.from_error_page or any("$" not in c for c in stmt.args[:-1]) or \
                application is not None:
            return client_choice([files, other])  # a URI or file the configuration names
        return unknown_choice([other, files])

    # ------------------------------------------------------------------ errors

    def _finalize(self, state: State, conf: Conf, status: int, stmt: Stmt | None) -> Result:
        """A status: `error_page` of the configuration in use, else nginx's own response."""
        if not state.error_page_used or self._recursive(conf):
            for page in conf.group("error_page"):
                codes = [a for a in page.args[:-1] if a.isdigit()]
                if str(status) not in codes or not page.args:
                    continue
                return self._error_page(state, conf, status, page)
        kind = "close" if status == 444 else "redirect" if 300 <= status < 400 else "reject"
        return Result.leaf(Outcome(kind, status, stmt, conf.location, state.trace))

    def _recursive(self, conf: Conf) -> bool:
        found = conf.get("recursive_error_pages")
        return found is not None and found.args[:1] == ["on"]

    def _error_page(self, state: State, conf: Conf, status: int, page: Stmt) -> Result:
        target = page.args[-1]
        state = replace(state, trace=state.trace + (
            Step(page, f"error_page {status} -> {target}", status=status),),
            variables=dict(state.variables))
        state.error_page_used = True
        if target.startswith("@"):
            return self._named(state, target[1:])
        if target.startswith(("http://", "https://", "$scheme")):
            return Result.leaf(Outcome("redirect", 302, page, conf.location, state.trace))
        uri = self._interpolate(target, state)
        if not isinstance(uri, str):
            uri = "/"
        if state.method not in ("GET", "HEAD"):
            state.method = "GET"
        state.from_error_page = uri.split("?", 1)[0]
        return self._internal_redirect(state, uri)


VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
QUERY = re.compile(r"\$(args|query_string|is_args|\{(args|query_string|is_args)\})")
RAW_URI = re.compile(r"\$(request_uri|\{request_uri\})")
EXACT_NAME = re.compile(r"[\w.-]+")
METHOD = re.compile(r"[A-Z]+")
METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "MKCOL", "COPY", "MOVE",
                     "OPTIONS", "PROPFIND", "PROPPATCH", "LOCK", "UNLOCK", "PATCH", "TRACE",
                     "CONNECT"))
DNS_NAME = re.compile(r"(?:[a-z0-9-]{1,63}\.)+[a-z]{2,63}", re.I)
SPOOFED = "the client chooses its address (realip trusts it)"


@dataclass(frozen=True, slots=True)
class Check:
    """One access-phase check and what it says for this request."""

    what: str
    allowed: object  # True, False, ATTACKER or UNKNOWN
    stmt: Stmt
    status: int
    page: Step | None = None  # the auth subrequest's step that decided (error_page, if)


def _groups(match: re.Match[str]) -> dict[str, Value]:
    """$0..$9 and the named captures of a regex match."""
    groups: dict[str, Value] = {str(i): match.group(i) or ""
                                for i in range(len(match.groups()) + 1)}
    groups.update((name, value or "") for name, value in match.groupdict().items())
    return groups


def _negated(args: list[str]) -> bool:
    return len(args) == 3 and args[1].startswith("!")


def _looks_secret(operand: str) -> bool:
    """A long literal compared with a header is a shared secret the client does not know (a
    host name, as a certificate or a Host header carries it, is not)."""
    return len(operand) >= 16 and not operand.startswith(("CN=", "/", "http")) \
        and not DNS_NAME.fullmatch(operand)


def _own_chain(conf: Conf, name: str) -> Stmt | None:
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


def _stock_root(stmt: Stmt) -> bool:
    return stmt.name in ("root", "alias") and bool(stmt.args) and \
        stmt.args[0].rstrip("/") in STOCK_ROOTS


def stock_site(server: Server) -> bool:
    """A catch-all server (no name of its own: `_`, `localhost`) with a root in the
    distribution's stock document root: what it serves from there is the welcome page.
    Not when it verifies clients, or shares its name with a server that does: there the
    stock root is what is protected (a demonstration of client certificates)."""
    if any(name not in ("", "_", "localhost") for name in server.names):
        return False
    config = getattr(server, "config", None)
    if server.verifies_clients or (config is not None and config.protected_twin(server)):
        return False
    root = server.http.first("root")
    return (root is not None and _stock_root(root)) or any(
        _stock_root(stmt) for stmt in walk(server.stmt.block))


def _is_default(server: Server) -> bool:
    """Whether the server is the default server of one of its ports (as far as the
    configuration tells: a fragment linted alone may have others loaded before it)."""
    config = getattr(server, "config", None)
    if config is None:
        return False
    return any(config.known_default(config.sockets[listen.socket]) is server
               for listen in server.listens if listen.socket in config.sockets)


def deciding_rule(rules: list[Stmt], address: str) -> Stmt | None:
    """ngx_http_access / ngx_stream_access: the first `allow` or `deny` matching the address
    decides; None: no rule matches (allowed)."""
    for rule in rules:
        target = rule.args[0] if rule.args else ""
        if target == "all" or _in_network(address, target):
            return rule
    return None


def stream_refusal(server: StreamServer) -> Stmt | None:
    """The `deny` that closes a direct client's connection to a stream {} server before the
    TLS handshake (the access phase runs before the ssl one); None when such a client gets
    past the rules: allowed, or writing its own address in a PROXY protocol header from an
    address `set_real_ip_from` trusts (ngx_stream_realip, before the access phase), or
    through Cloudflare when its ranges are allowed (any Cloudflare customer can point a
    Spectrum application at the origin)."""
    if any(listen.proxy_protocol for listen in server.listens) and any(
            _in_network(DIRECT_ADDRESS, s.value) for s in server.settings("set_real_ip_from")):
        return None
    rules = server.access_rules()
    rule = deciding_rule(rules, DIRECT_ADDRESS)
    via_cloudflare = deciding_rule(rules, CLOUDFLARE_ADDRESS)
    if via_cloudflare is not None and via_cloudflare.name == "allow":
        return None
    return rule if rule is not None and rule.name == "deny" else None


def _in_network(address: str, network: str) -> bool:
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False


# --------------------------------------------------------------------------- geo


@dataclass(slots=True)
class Geo:
    source: str
    default: str = ""
    networks: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]] = field(
        default_factory=list)

    def lookup(self, address: Value) -> Value:
        if not isinstance(address, str):
            return address if address is not EXPECTED else UNKNOWN
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return UNKNOWN
        best: tuple[int, str] | None = None
        for network, value in self.networks:
            if ip.version == network.version and ip in network:
                if best is None or network.prefixlen > best[0]:
                    best = (network.prefixlen, value)
        return best[1] if best else self.default


# The `geo` blocks of each http {} scope, read once per run: every server of the configuration
# shares them, and reading them per server is quadratic in servers.
_GEOS: "weakref.WeakKeyDictionary[Scope, dict[str, Geo]]" = weakref.WeakKeyDictionary()


def geos_of(http: Scope) -> dict[str, Geo]:
    """The `geo` variables of an http {} scope, by name (built once per scope)."""
    found = _GEOS.get(http)
    if found is None:
        found = _GEOS[http] = _read_geos(http)
    return found


def _read_geos(http: Scope) -> dict[str, Geo]:
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


# --------------------------------------------------------------------------- URIs to try


def sample_uris(server: Server) -> list[str]:
    """One URI per location (a string each regex matches), plus what rewrites and `if`s test,
    plus one that matches no location."""
    uris: dict[str, None] = {"/": None, "/index.html": None}
    for location in server.all_locations():
        if location.modifier == "@":
            continue
        if location.modifier in ("~", "~*"):
            example = pcre.example(location.pattern)
            if example is not None:
                uris[example] = None
        elif location.pattern:
            uris[location.pattern] = None
            if location.pattern.endswith("/"):
                uris[location.pattern + "nginx-mtls-lint"] = None
    for stmt in _rewrite_regexes(server):
        for example in (pcre.example(stmt), pcre.exempt_example(stmt)):
            if example is not None:
                uris[example] = None
    uris["/nginx-mtls-lint-probe"] = None
    return [u if u.startswith("/") else "/" + u for u in uris][:64]


def _rewrite_regexes(server: Server) -> Iterator[str]:
    """The regexes and strings the server's rewrites and `if`s test the URI against, at any
    level: the URIs they pick out may take another path."""
    for stmt in walk(server.stmt.block):
        if stmt.name == "rewrite" and stmt.args:
            yield stmt.args[0]
        elif stmt.name == "if" and len(stmt.args) == 3 and stmt.args[0] in (
                "$uri", "$request_uri", "$document_uri"):
            if "~" in stmt.args[1]:
                yield stmt.args[2]
            else:
                yield "^" + re.escape(stmt.args[2]) + "$"


# --------------------------------------------------------------------------- per server


# Directives that can answer a request with something other than content.
# (try_files always has the files themselves to serve.)
REFUSING = frozenset(("if", "return", "rewrite", "deny", "auth_request", "auth_basic",
                      "limit_except", "internal", "stub_status", "empty_gif"))
HTTP_REFUSING = ("deny", "auth_request", "auth_basic")
VERIFY_VALUE = {"none": "NONE", "failed": "FAILED:self-signed certificate",
                "other-ca": "SUCCESS", "valid": "SUCCESS", "plain": "", "probe": "SUCCESS",
                "malformed": "NONE", "tls-port-plain": ""}


@dataclass(slots=True)
class Path:
    client: Client
    uri: str
    result: Result

    @property
    def outcome(self) -> Outcome:
        return self.result.witness


class ServerFlow:
    """Every answer a rule needs about one server, each computed on first use."""

    def __init__(self, server: Server, issuers: frozenset[str] = frozenset()):
        self.server = server
        self.issuers = issuers
        self._simulator: Simulator | None = None
        self._uris: list[str] | None = None
        self._cache: dict[tuple, list[Path]] = {}

    @property
    def simulator(self) -> Simulator:
        if self._simulator is None:
            self._simulator = Simulator(self.server, issuers=self.issuers)
        return self._simulator

    @property
    def uris(self) -> list[str]:
        if self._uris is None:
            self._uris = sample_uris(self.server)
        return self._uris

    @property
    def may_refuse(self) -> bool:
        """Whether anything in the request phases can answer other than with content: most
        servers have no such directive, and need no simulation to know it."""
        names = self.server.directive_names()
        http = self.server.http
        return bool(names & REFUSING) or any(http.first(n) is not None for n in HTTP_REFUSING) \
            or stock_site(self.server)

    def methods(self) -> tuple[str, ...]:
        """GET, the methods an `if` or a `map` on $request_method names, and a method some
        `limit_except` does not list."""
        listed: set[str] = set()
        for location in self.server.all_locations():
            for stmt in location.scope.blocks:
                if stmt.name == "limit_except":
                    listed |= {m.upper() for m in stmt.args}
        tests = [stmt.args[2] for stmt in walk(self.server.stmt.block) if stmt.name == "if"
                 and len(stmt.args) == 3 and "$request_method" in stmt.args[0]]
        tests += [key for variable_map in self.server.maps.values()
                  if "$request_method" in variable_map.source
                  for key in list(variable_map.exact) + [p for p, _, _ in variable_map.regexes]]
        tested = [m for text in tests for m in METHOD.findall(text.upper()) if m in METHODS]
        found = ["GET"] + list(dict.fromkeys(tested))[:4]
        if listed:
            found.append(next(m for m in ("POST", "DELETE", "PUT", "PATCH") if m not in listed))
        return tuple(dict.fromkeys(found))

    def paths(self, kind: str, tls: bool = True) -> list[Path]:
        """Each (client of this kind, URI): direct and through Cloudflare, each method."""
        key = (kind, tls)
        if key not in self._cache:
            found = []
            for via in (False, True):
                for method in self.methods():
                    client = Client(kind, VERIFY_VALUE[kind] if tls else "", via, method)
                    for uri in self.uris:
                        found.append(Path(client, uri, self.simulator.request(client, uri, tls)))
            self._cache[key] = found
        return self._cache[key]

    def open_paths(self, kinds: tuple[str, ...], tls: bool = True) -> list[Path]:
        return [p for kind in kinds for p in self.paths(kind, tls) if p.result.verdict == YES]

    def unsure_paths(self, kinds: tuple[str, ...], tls: bool = True) -> list[Path]:
        return [p for kind in kinds for p in self.paths(kind, tls) if p.result.verdict == MAYBE]

    def valid_refused(self, via_cloudflare: bool) -> Path | None:
        """The valid client's path for "/" when every URI refuses it, else None (stops at
        the first URI that serves it)."""
        if not self.may_refuse:
            return None
        # A Cloudflare-fronted server with no TLS listener is a tunnel's origin: cloudflared
        # on this host sends plain HTTP from the loopback address.
        tunnel = via_cloudflare and not self.server.tls_on
        client = Client("valid", "" if tunnel else "SUCCESS", via_cloudflare and not tunnel,
                        "GET", tunnel=tunnel)
        first = None
        for uri in self.uris:
            path = Path(client, uri, self.simulator.request(client, uri, tls=not tunnel))
            if path.result.verdict != NO:
                return None
            first = first or path
        return first

    def handler_exists(self, kinds: tuple[str, ...]) -> bool:
        """Whether something refuses these clients on a URI where the valid client gets
        content: a check of any shape (an `if`, `auth_request`, a pin), not a location that
        refuses everyone."""
        valid = Client("valid", "SUCCESS", bool(self.server.cloudflare and
                                                 self.server.cloudflare.fronted), "GET")
        refused = {p.uri for kind in kinds for p in self.paths(kind)
                   if p.result.verdict == NO and not p.outcome.through("error_page")}
        return any(self.simulator.request(valid, uri).verdict != NO for uri in refused)

    def serves_content(self) -> bool:
        """Whether any request could get content (every check taken both ways): false for a
        server that only redirects, refuses, closes or answers fixed text."""
        if not self.may_refuse:
            return True
        key = ("probe", True)
        if key not in self._cache:
            client = Client("probe", "SUCCESS", True, "GET")
            self.simulator.probing = True
            try:
                self._cache[key] = [Path(client, uri, self.simulator.request(client, uri))
                                    for uri in self.uris]
            finally:
                self.simulator.probing = False
        return any(p.result.verdict != NO for p in self._cache[key])
