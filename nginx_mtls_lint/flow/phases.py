"""The phase loop: one request through one server, the way ngx_http_core_run_phases runs it.

The order is nginx's: the handshake's verdict (495/496/497), the server-level rewrite phase,
location selection, `limit_except`, the location's rewrite phase (`if` switches the
configuration), realip, the access phase (access.ACCESS_CHECKS), the content phase
(content.CONTENT_HANDLERS); every status goes through `error_page` (an internal redirect to a
URI runs the server's checks again, a named location skips them)."""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from ..model import Server
from ..parser import Stmt
from ..records import (ErrorPage, Geo, Location, Return, Rewrite, Scope, VariableMap, flatten,
                       geos_of)
from .. import pcre
from . import access, content
from .conf import Conf
from .evaluate import Evaluator, negated
from .values import (ATTACKER, MAX_PATHS, MAX_REDIRECTS, MAYBE, Budget, Client,
                     Outcome, Result, State, Step, because, client_choice, is_limit, Unmodelled,
                     unknown_choice)

REWRITE_DIRECTIVES = ("if", "return", "rewrite", "set", "break")
# Rewrite-module statements run per server, over all its requests: past it, each request's
# answer is "cannot prove". Bounds the product of forks, URIs and clients (a fork budget per
# request alone multiplies by the requests).
MAX_WORK = 300_000
# Decisions followed one inside another (each a few Python frames): past it, "cannot prove".
MAX_DEPTH = 150


class Simulator:
    """Requests through one server. Build once per server; `request()` per client and URI."""

    def __init__(self, server: Server, maps: dict[str, VariableMap] | None = None,
                 geos: dict[str, Geo] | None = None, issuers: frozenset[str] = frozenset()):
        self.server = server
        self.issuers = issuers
        self.values = Evaluator(server, maps if maps is not None else server.maps,
                                geos if geos is not None else geos_of(server.http), issuers)
        self.server_conf = server.conf
        self.http_conf = self.server_conf.parent
        self.confs: dict[int, Conf] = {}
        for location in server.locations:
            self._compile(location, self.server_conf)
        self.server_stmts = [s for s in flatten(server.stmt.block)]
        mode = self.mode = server.verification.verify_mode
        # Under `optional` with no check of its own, a server that hands $ssl_client_verify
        # to its application leaves the refusal to it: what the application does is unknown.
        self.delegates = mode.lets_unverified_in and server.written_check() is None
        self.stock_site = content.stock_site(server)
        self._blocks: dict[int, list[Stmt]] = {}
        self._block_confs: dict[tuple[int, int], Conf] = {}
        merge = self.server_conf.get("merge_slashes")
        self.slashes_kept = merge if merge is not None and merge.args[:1] == ["off"] else None
        self._budget = Budget()
        self.work = 0  # rewrite-module statements run, over every request (MAX_WORK)
        self._depth = 0

    @property
    def probing(self) -> bool:
        """Every check taken both ways: can anything be served?"""
        return self.values.probing

    @probing.setter
    def probing(self, value: bool) -> None:
        self.values.probing = value

    def _compile(self, location: Location, parent: Conf) -> None:
        conf = Conf(location.scope, parent, location.stmt, location)
        self.confs[id(location)] = conf
        for child in location.locations:
            self._compile(child, conf)

    def _block(self, stmt: Stmt) -> list[Stmt]:
        """A block's statements (includes in place), listed once per server."""
        found = self._blocks.get(id(stmt))
        if found is None:
            found = self._blocks[id(stmt)] = list(flatten(stmt.block))
        return found

    def _conf(self, stmt: Stmt, parent: Conf) -> Conf:
        """The configuration of an `if` or `limit_except` block inside `parent`, made once
        (with what it has looked up) and reused by every request."""
        key = (id(stmt), id(parent))  # both kept alive by the Conf itself
        found = self._block_confs.get(key)
        if found is None:
            found = self._block_confs[key] = Conf(Scope(stmt.block), parent, stmt,
                                                  parent.location)
        return found

    # ------------------------------------------------------------------ entry points

    def request(self, client: Client, uri: str, tls: bool = True) -> Result:
        """What `client` gets for `uri` on this server."""
        self.values.client, self.values.tls, self._budget = client, tls, Budget()
        state = State(uri=uri, method=client.method)
        state.remote_addr = self.values.connection_address()
        self.values.address_read = False  # (from here on: whether the answer depends on it)
        state = access.realip(self, state, self.server_conf)
        if client.kind in ("malformed", "tls-port-plain"):
            # 400 is raised while reading the headers, 497 for plain HTTP on a TLS port:
            # both before any certificate check, answered with the server's error pages.
            status = 400 if client.kind == "malformed" else 497
            step = state.step(None, "malformed request: 400" if status == 400 else
                              "plain HTTP sent to the TLS port: 497")
            return self.finalize(step, self.server_conf, status, None)
        if tls and self.mode.verifies:
            status = self.mode.handshake_status(client.kind)
            if status:
                setting = self.server.verification.setting
                step = state.step(setting.stmt if setting else None,
                                  f"certificate check answers {status}")
                return self.finalize(step, self.server_conf, status, None)
        return self.server_rewrite(state)

    # ------------------------------------------------------------------ phases

    def server_rewrite(self, state: State) -> Result:
        return self._rewrite(self.server_stmts, state, self.server_conf, server_level=True,
                             done=lambda st, conf, how: self._find_location(st))

    def _find_location(self, state: State) -> Result:
        if self.slashes_kept and not state.internal and state.uri.startswith("/") and \
                not state.uri.startswith("//") and \
                self.server.locate("/" + state.uri)[0] is not self.server.locate(state.uri)[0]:
            # ngx_http_parse_complex_uri merges "//" only with merge_slashes on: the client
            # may write the URI with a doubled slash, which prefix locations do not match
            # (the file it names is the same).
            doubled = "/" + state.uri

            def written(st: State) -> Result:
                st.uri = doubled
                return self._locate(st)

            return self.fork(ATTACKER, f"`merge_slashes off`: the client writes {doubled}",
                             state, self._locate, written)
        return self._locate(state)

    def _locate(self, state: State) -> Result:
        location, undecided = self.server.locate(state.uri)
        if undecided is not None:
            why = pcre.unsupported(undecided.pattern) or "a regex we cannot run"
            return Result.leaf(Outcome(
                "unknown", 0, undecided.stmt, undecided, state.trace,
                f"whether `location {undecided.label}` takes {state.uri} ({why})", limit=True))
        if location is None:
            conf = self.server_conf
            state = state.step(None, f"no location matches {state.uri}: the server's root")
            return self._location_rewrite(state, conf, None)
        conf = self.confs[id(location)]
        # after an internal redirect, which URI chose it (an index file chooses again)
        again = f" for {state.uri}" if state.redirects else ""
        state = state.step(location.stmt, f"location {location.label}{again}")
        return self._enter(state, conf)

    def _enter(self, state: State, conf: Conf) -> Result:
        location = conf.location
        if location is not None and location.scope.first("internal") is not None \
                and not state.internal:
            return self.finalize(state.step(location.scope.first("internal"),
                                            "internal location: 404 to a client"),
                                 conf, 404, None)
        limit = self._limit_except(conf, state.method)
        if limit is not None:
            state = state.step(limit.stmt, f"{state.method} is not in limit_except: "
                               "its block's configuration applies (no rewrite directives)")
            return self.access(state, limit)
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
                    return self._conf(stmt, conf)
        return None

    def _location_rewrite(self, state: State, conf: Conf, location: Location | None) -> Result:
        if location is None:
            # No location: the server's own configuration handles the request, and the
            # location rewrite phase is skipped for it (ngx_http_rewrite_handler).
            return self.access(state, conf)
        stmts = self._block(location.stmt)
        state = state.copy(dict(state.variables), state.steps)
        state.uri_changed = False

        def done(st: State, active: Conf, how: str) -> Result:
            # ngx_http_core_post_rewrite_phase: a rewrite (other than `break`) chooses the
            # location again, even when it wrote the same URI; `break` cancels it.
            if how != "break" and st.uri_changed:
                return self._relocate(st)
            return self.access(st, active)

        return self._rewrite(stmts, state, conf, server_level=False, done=done)

    def access(self, state: State, conf: Conf) -> Result:
        return access.access_phase(self, state, conf)

    def content(self, state: State, conf: Conf) -> Result:
        return content.content_phase(self, state, conf)

    def _relocate(self, state: State) -> Result:
        state.redirects += 1
        if state.redirects > MAX_REDIRECTS:
            return Result.leaf(Outcome("reject", 500, None, None, state.trace,
                                       "rewrite or internal redirection cycle"))
        return self._find_location(state)

    def internal_redirect(self, state: State, uri: str) -> Result:
        state.redirects += 1
        if state.redirects > MAX_REDIRECTS:
            return Result.leaf(Outcome("reject", 500, None, None, state.trace,
                                       "rewrite or internal redirection cycle"))
        state.internal = True
        state.uri = uri.split("?", 1)[0]
        return self.server_rewrite(state)

    def named(self, state: State, name: str) -> Result:
        location = self.server.named_location(name)
        if location is None:
            return Result.leaf(Outcome("reject", 500, None, None, state.trace,
                                       f"no location @{name}"))
        state.redirects += 1  # ngx_http_named_location counts it as a URI change
        if state.redirects > MAX_REDIRECTS:
            return Result.leaf(Outcome("reject", 500, None, None, state.trace,
                                       "rewrite or internal redirection cycle"))
        state.internal = True
        conf = self.confs[id(location)]
        state = state.step(location.stmt, f"named location @{name} (server checks skipped)")
        return self._location_rewrite(state, conf, location)

    # ------------------------------------------------------------------ rewrite module

    def _rewrite(self, stmts: list[Stmt], state: State, conf: Conf, server_level: bool,
                 done: Callable[[State, Conf, str], Result], start: int = 0) -> Result:
        """Run rewrite-module directives from `stmts[start:]`; `done(state, conf, how)` goes
        on when they finish (how: "end", "break", "last"). Within the budgets."""
        if self._depth >= MAX_DEPTH or self.work >= MAX_WORK:
            spent = f"more than {MAX_DEPTH} decisions one inside another" \
                if self._depth >= MAX_DEPTH else \
                f"the server's simulation budget ({MAX_WORK} statements) is spent"
            return Result.leaf(Outcome("unknown", 0, stmts[start] if start < len(stmts)
                                       else None, conf.location, state.trace,
                                       f"not followed further: {spent}", limit=True))
        self._depth += 1
        try:
            return self._rewrite_from(stmts, state, conf, server_level, done, start)
        finally:
            self._depth -= 1

    def _rewrite_from(self, stmts: list[Stmt], state: State, conf: Conf, server_level: bool,
                      done: Callable[[State, Conf, str], Result], start: int) -> Result:
        for index in range(start, len(stmts)):
            stmt = stmts[index]
            name = stmt.name
            self.work += 1
            if name == "if" and stmt.block is not None:
                truth, why = self.values.condition(stmt.args, state)
                if truth is False:  # on in this loop: a bad-bot list of 1,000 ifs is no deep
                    state = self._if_false(stmt, state)
                    continue
                if isinstance(why, Unmodelled):
                    why = why.at(stmt)
                return self._if(stmts, index, state, conf, server_level, done, truth, why)
            if name == "return" and stmt.args:
                return self._return(state.step(stmt, "return " + " ".join(stmt.args)), conf,
                                    stmt)
            if name == "break":
                return done(state.step(stmt, "break"), conf, "break")
            if name == "set" and len(stmt.args) >= 2:
                state = state.step(stmt, f"set {stmt.args[0]}")
                state.variables[stmt.args[0].lstrip("$")] = self.values.interpolate(
                    stmt.args[1], state)
                continue
            if name == "rewrite" and len(stmt.args) >= 2:
                if self._misses(stmt.args[0], state.uri):
                    continue  # no match: on in this loop
                return self._rewrite_directive(stmts, index, state, conf, server_level, done)
        return done(state, conf, "end")

    @staticmethod
    def _misses(pattern: str, uri: str) -> bool:
        """Whether a rewrite's regex certainly does not match."""
        compiled = pcre.compile(pattern)
        try:
            return compiled is not None and compiled.search(uri) is None
        except pcre.Undecidable:
            return False

    def _if_false(self, stmt: Stmt, state: State) -> State:
        state = state.step(stmt, f"if ({' '.join(stmt.args)}) is false", passed=True)
        self.values.capture(stmt.args, state, matched=negated(stmt.args))
        return state

    def _if(self, stmts: list[Stmt], index: int, state: State, conf: Conf, server_level: bool,
            done: Callable[[State, Conf, str], Result], truth: object, why: str) -> Result:
        """An `if` block: inside, its own configuration (in a location) and directives; then
        on after it, unless they ended the rewrite phase."""
        stmt = stmts[index]

        def inside(st: State) -> Result:
            st = st.step(stmt, f"if ({' '.join(stmt.args)}) is true")
            self.values.capture(stmt.args, st, matched=not negated(stmt.args))
            block_conf = conf if server_level else self._conf(stmt, conf)

            def after(st2: State, active: Conf, how: str) -> Result:
                if how in ("break", "last"):
                    return done(st2, active, how)
                return self._rewrite(stmts, st2, active, server_level, done, index + 1)

            return self._rewrite(self._block(stmt), st, block_conf, server_level, after)

        def outside(st: State) -> Result:
            return self._rewrite(stmts, self._if_false(stmt, st), conf, server_level, done,
                                 index + 1)

        return self.fork(truth, why, state, inside, outside)

    def _rewrite_directive(self, stmts: list[Stmt], index: int, state: State, conf: Conf,
                           server_level: bool,
                           done: Callable[[State, Conf, str], Result]) -> Result:
        stmt = stmts[index]
        rewrite = Rewrite.of(stmt)
        pattern, replacement, flag = rewrite.pattern, rewrite.replacement, rewrite.flag
        compiled = pcre.compile(pattern)
        if compiled is None:
            return Result.leaf(Outcome(
                "unknown", 0, stmt, None, state.trace,
                f"regex {pattern!r} cannot be run: {pcre.unsupported(pattern)}", limit=True))
        try:
            match = compiled.search(state.uri)
        except pcre.Undecidable as error:
            return Result.leaf(Outcome(
                "unknown", 0, stmt, None, state.trace,
                f"regex {pattern!r} on {state.uri[:80]!r} cannot be run: {error}", limit=True))
        if match is None:
            return self._rewrite(stmts, state, conf, server_level, done, index + 1)
        state = state.step(stmt, f"rewrite {pattern} matches {state.uri}")
        target = self.values.interpolate(pcre.expand(replacement, match), state)
        if rewrite.redirects:
            return self.finalize(state, conf, 301 if flag == "permanent" else 302, stmt)
        if not isinstance(target, str):
            why = because("the rewritten URI depends on ",
                          self.values.unknown_reason(replacement, state), stmt)
            return Result.leaf(Outcome("unknown", 0, stmt, conf.location, state.trace, why,
                                       limit=is_limit(why)))
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
        answer = Return.of(stmt)
        code, text = answer.code, answer.text
        if answer.bare_url:  # `return URL`: 302
            return self.finalize(state, conf, 302, stmt)
        if code == 444:
            return Result.leaf(Outcome("close", 444, stmt, conf.location, state.trace))
        if 301 <= code <= 308 and code != 304 or (code >= 400 and text is None):
            return self.finalize(state, conf, code, stmt)
        return Result.leaf(Outcome("text", code, stmt, conf.location, state.trace))

    # ------------------------------------------------------------------ forks

    def fork(self, truth: object, why: str, state: State,
             if_true: Callable[[State], Result], if_false: Callable[[State], Result]) -> Result:
        if truth is True:
            return if_true(state)
        if truth is False:
            return if_false(state)
        self._budget.paths += 1
        if self._budget.paths > MAX_PATHS:
            return Result.leaf(Outcome("unknown", 0, None, None, state.trace,
                                       f"more than {MAX_PATHS} paths to follow", limit=True))
        results = [if_true(state.branch(None, why)), if_false(state.branch(None, why))]
        chosen = client_choice(results) if truth is ATTACKER else unknown_choice(results)
        if chosen.verdict == MAYBE and not chosen.witness.reason:  # say what it depends on
            chosen = Result(MAYBE, replace(chosen.witness, reason=why, limit=is_limit(why)))
        return chosen

    # ------------------------------------------------------------------ errors

    def finalize(self, state: State, conf: Conf, status: int, stmt: Stmt | None) -> Result:
        """A status: `error_page` of the configuration in use, else nginx's own response."""
        if not state.error_page_used or self._recursive(conf):
            for page in conf.error_pages():
                if page.takes(status):
                    return self._error_page(state, conf, status, page)
        kind = "close" if status == 444 else "redirect" if 300 <= status < 400 else "reject"
        return Result.leaf(Outcome(kind, status, stmt, conf.location, state.trace))

    def _recursive(self, conf: Conf) -> bool:
        found = conf.get("recursive_error_pages")
        return found is not None and found.args[:1] == ["on"]

    def _error_page(self, state: State, conf: Conf, status: int, page: ErrorPage) -> Result:
        target = page.target
        state = state.add(Step(page.stmt, f"error_page {status} -> {target}", status=status))
        state.error_page_used = True
        if target.startswith("@"):
            return self.named(state, target[1:])
        if target.startswith(("http://", "https://", "$scheme")):
            return Result.leaf(Outcome("redirect", 302, page.stmt, conf.location, state.trace))
        uri = self.values.interpolate(target, state)
        if not isinstance(uri, str):
            uri = "/"
        if state.method not in ("GET", "HEAD"):
            state.method = "GET"
        state.from_error_page = uri.split("?", 1)[0]
        return self.internal_redirect(state, uri)
