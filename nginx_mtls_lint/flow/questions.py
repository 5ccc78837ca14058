"""The questions rules ask about one server (ServerFlow): which clients reach content on which
URIs and methods, whether the valid client is refused everywhere, whether anything can be
served at all. Each answer is simulated on first use and kept."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Iterator

from ..model import Server, TlsServer
from ..parser import Stmt
from ..records import Location, walk
from .. import pcre
from .content import stock_site
from .phases import MAX_WORK, Simulator
from .values import MAYBE, NO, YES, Cause, Client, Outcome, Result

METHOD = re.compile(r"[A-Z]+")
METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "MKCOL", "COPY", "MOVE",
                     "OPTIONS", "PROPFIND", "PROPPATCH", "LOCK", "UNLOCK", "PATCH", "TRACE",
                     "CONNECT"))
# Directives that can answer a request with something other than content.
# (try_files always has the files themselves to serve.)
REFUSING = frozenset(("if", "return", "rewrite", "deny", "auth_request", "auth_basic",
                      "limit_except", "internal", "stub_status", "empty_gif"))
HTTP_REFUSING = ("deny", "auth_request", "auth_basic")
VERIFY_VALUE = {"none": "NONE", "failed": "FAILED:self-signed certificate",
                "other-ca": "SUCCESS", "valid": "SUCCESS", "plain": "", "probe": "SUCCESS",
                "malformed": "NONE", "tls-port-plain": ""}


def verify_value(server: "TlsServer", kind: str, tls: bool = True) -> str:
    """$ssl_client_verify for a client of this kind. Without ssl_verify_client nginx asks
    for no certificate: the valid client's is NONE too."""
    if not tls:
        return ""
    if kind == "valid" and server.verification.mode == "off":
        return "NONE"
    return VERIFY_VALUE[kind]


# --------------------------------------------------------------------------- URIs to try


# URIs simulated per server. Every location gets one before any location gets a second; what
# the budget leaves out is reported as not decided, never dropped in silence.
MAX_URIS = 2048


@dataclass(slots=True)
class Samples:
    uris: list[str]
    unsampled: list[tuple[Location | None, str, str]]  # (location, URI or pattern, why)


def sample_uris(server: Server) -> list[str]:
    return location_samples(server).uris


def location_samples(server: Server) -> Samples:
    """One URI per location (a string each regex matches), plus what rewrites and `if`s test,
    plus one that matches no location; and what could not be sampled, with why."""
    firsts: dict[str, None] = {"/": None, "/index.html": None}
    uris: dict[str, None] = dict(firsts)
    unsampled: list[tuple[Location | None, str, str]] = []
    prefixes = _parent_prefixes(server)
    for location in server.all_locations():
        if location.modifier == "@":
            continue
        if location.modifier in ("~", "~*"):
            example = pcre.example(location.pattern)
            if example is not None:
                example = _under(prefixes.get(id(location), ""), example, location)
                firsts[_rooted(example)] = uris[example] = None
            elif pcre.compile(location.pattern) is not None:
                # (a regex we cannot run makes every choice it takes part in undecided)
                unsampled.append((location, location.pattern,
                                  "no URI it matches could be made within "
                                  f"{pcre.MAX_EXAMPLE} characters"))
        elif location.pattern:
            firsts[_rooted(location.pattern)] = uris[location.pattern] = None
            if location.pattern.endswith("/"):
                uris[location.pattern + "nginx-mtls-lint"] = None
    uris.update(dict.fromkeys(_rewrite_samples(server, [u for u in firsts if u != "/"])))
    uris["/nginx-mtls-lint-probe"] = firsts["/nginx-mtls-lint-probe"] = None
    ordered = list(dict.fromkeys(_rooted(u) for u in uris))
    if len(ordered) <= MAX_URIS:
        return Samples(ordered, unsampled)
    kept = set(list(firsts)[:MAX_URIS])
    kept |= set([u for u in ordered if u not in kept][:MAX_URIS - len(kept)])
    for uri in ordered:
        if uri not in kept:
            unsampled.append((None, uri, f"over the budget of {MAX_URIS} URIs per server"))
    return Samples([u for u in ordered if u in kept], unsampled)


def _parent_prefixes(server: Server) -> dict[int, str]:
    """The prefix of the location a nested one sits in (by id): nginx looks at a nested
    location only for URIs its parent matched."""
    found: dict[int, str] = {}
    stack = [(location, "") for location in server.locations]
    while stack:
        location, prefix = stack.pop()
        found[id(location)] = prefix
        own = location.pattern if location.modifier in ("", "^~", "=") else prefix
        stack.extend((child, own) for child in location.locations)
    return found


def _under(prefix: str, example: str, location: Location) -> str:
    """A URI under the parent's prefix that the nested regex still matches (else the
    regex's own example)."""
    if not prefix:
        return example
    candidate = prefix.rstrip("/") + "/" + example.lstrip("/")
    return candidate if location.matches(candidate) else example


# The literal start of an anchored regex: "^/old/" of "^/old/(.*)$"
LITERAL_START = re.compile(r"\^((?:[^\\.^$|?*+()\[\]{}]|\\[./-])+)")


def _rewrite_samples(server: Server, targets: list[str]) -> list[str]:
    """What the server's rewrites and URI tests pick out (an example each regex matches and
    one it does not), and where a capture carries the URI into each location."""
    found: list[str] = []
    for stmt in _rewrite_regexes(server):
        matched = pcre.example(stmt)
        found += [e for e in (matched, pcre.exempt_example(stmt)) if e is not None]
        if "(" in stmt and matched is not None:
            found += _carried_into(stmt, targets)
    return found


def _carried_into(pattern: str, targets: list[str]) -> list[str]:
    """A rewrite whose capture carries part of the URI over (`^/old/(.*)$ /$1`) can send a
    request to any location: the regex's literal start followed by each location's sample,
    where the regex still matches it."""
    compiled = pcre.compile(pattern)
    start = LITERAL_START.match(pattern)
    if compiled is None or start is None:
        return []
    prefix = re.sub(r"\\(.)", r"\1", start.group(1))
    found = []
    for target in targets:
        candidate = prefix.rstrip("/") + "/" + target.lstrip("/")
        try:
            if compiled.search(candidate):
                found.append(candidate)
        except pcre.Undecidable:
            continue
    return found


def _rooted(uri: str) -> str:
    return uri if uri.startswith("/") else "/" + uri


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


@dataclass(slots=True)
class Path:
    client: Client
    uri: str
    result: Result

    @property
    def outcome(self) -> Outcome:
        return self.result.witness

    def check_on_path(self, server: Server, passed: bool = True) -> Stmt | None:
        """The last `if` on this path that tests the client certificate (directly, through
        a map or a `set` variable) and let the request go past (passed), or stopped it."""
        found = None
        for step in self.outcome.trace:
            stmt = step.stmt
            if stmt is not None and stmt.name == "if" and step.passed == passed and \
                    stmt.args and server.reads_certificate(stmt.args[0]):
                found = stmt
        return found

    def cause(self, server: Server) -> Cause:
        """Why the client got where it did (Cause, in its order)."""
        outcome = self.outcome
        if outcome.through("error_page") is not None:
            return Cause.ERROR_PAGE
        if outcome.spoofed:
            return Cause.SPOOFED
        if self.check_on_path(server) is not None:
            return Cause.CHECK_PASSED
        if outcome.through("limit_except") is not None:
            return Cause.LIMIT_EXCEPT
        return Cause.UNCHECKED


def _not_simulated(client: Client, location: Location | None, uri: str, why: str) -> Path:
    """A path we did not follow: its answer is "cannot prove", saying why."""
    what = f"`location {location.label}`" if location is not None else uri
    return Path(client, uri, Result.leaf(Outcome(
        "unknown", 0, location.stmt if location else None, location, (),
        f"{what} was not simulated: {why}", limit=True)))


class ServerFlow:
    """Every answer a rule needs about one server, each computed on first use."""

    def __init__(self, server: Server, issuers: frozenset[str] = frozenset()):
        self.server = server
        self.issuers = issuers
        self._simulator: Simulator | None = None
        self._samples: Samples | None = None
        self._cache: dict[tuple[str, bool], list[Path]] = {}
        self._asked: list[Path] = []  # every request simulated for a rule, in order

    def simulated(self) -> list[Path]:
        """Every request simulated so far to answer a question (not the probing ones)."""
        return list(self._asked)

    def _request(self, client: Client, uri: str, tls: bool = True) -> Path:
        path = Path(client, uri, self.simulator.request(client, uri, tls))
        self._asked.append(path)
        return path

    def _again(self, client: Client, uri: str, tls: bool, result: Result, work: int) -> Path:
        """A request whose answer is known: counted as simulated (the same work against
        the server's budget), unless the budget would have run out on the way."""
        simulator = self.simulator
        if simulator.work + work >= MAX_WORK:
            return self._request(client, uri, tls)
        simulator.work += work
        path = Path(client, uri, result)
        self._asked.append(path)
        return path

    @property
    def simulator(self) -> Simulator:
        if self._simulator is None:
            self._simulator = Simulator(self.server, issuers=self.issuers)
        return self._simulator

    @property
    def samples(self) -> Samples:
        if self._samples is None:
            self._samples = location_samples(self.server)
        return self._samples

    @property
    def uris(self) -> list[str]:
        return self.samples.uris

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
        found = ["GET"] + list(dict.fromkeys(tested))  # at most METHODS: bounded
        if listed:
            found.append(next(m for m in ("POST", "DELETE", "PUT", "PATCH") if m not in listed))
        return tuple(dict.fromkeys(found))

    def paths(self, kind: str, tls: bool = True) -> list[Path]:
        """Each (client of this kind, URI): direct and through Cloudflare, each method."""
        key = (kind, tls)
        if key not in self._cache:
            found = []
            # (method, URI) -> the direct request's answer and work, where it did not depend
            # on the client's address: the same through Cloudflare, not simulated again
            same: dict[tuple[str, str], tuple[Result, int]] = {}
            for via in (False, True):
                for method in self.methods():
                    client = Client(kind, verify_value(self.server, kind, tls), via, method)
                    for uri in self.uris:
                        if via and (method, uri) in same:
                            found.append(self._again(client, uri, tls, *same[method, uri]))
                            continue
                        work = self.simulator.work
                        found.append(self._request(client, uri, tls))
                        if not self.simulator.values.address_read:
                            same[method, uri] = found[-1].result, self.simulator.work - work
            client = Client(kind, verify_value(self.server, kind, tls), False, "GET")
            found += [_not_simulated(client, location, uri, why)
                      for location, uri, why in self.samples.unsampled]
            self._cache[key] = found
        return self._cache[key]

    def open_paths(self, kinds: tuple[str, ...], tls: bool = True,
                   causes: Iterable[Cause] | None = None) -> list[Path]:
        """The paths on which clients of these kinds get content; with `causes`, only those
        that got there for one of them."""
        found = [p for kind in kinds for p in self.paths(kind, tls) if p.result.verdict == YES]
        if causes is None:
            return found
        wanted = set(causes)
        return [p for p in found if p.cause(self.server) in wanted]

    def unsure_paths(self, kinds: tuple[str, ...], tls: bool = True,
                     causes: Iterable[Cause] | None = None) -> list[Path]:
        """The paths on which clients of these kinds may get content; with `causes`, only
        those that got so far for one of them."""
        found = [p for kind in kinds for p in self.paths(kind, tls) if p.result.verdict == MAYBE]
        return found if causes is None else [p for p in found if p.cause(self.server) in causes]

    def valid_refused(self, via_cloudflare: bool) -> Path | None:
        """The valid client's path for "/" when every URI refuses it, else None (stops at
        the first URI that serves it)."""
        if not self.may_refuse:
            return None
        # A Cloudflare-fronted server with no TLS listener is a tunnel's origin: cloudflared
        # on this host sends plain HTTP from the loopback address.
        tunnel = via_cloudflare and not self.server.tls_on
        client = Client("valid", verify_value(self.server, "valid", not tunnel), via_cloudflare and not tunnel, "GET", tunnel=tunnel)
        first = None
        for uri in self.uris:
            path = self._request(client, uri, tls=not tunnel)
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
        return any(self._request(valid, uri).result.verdict != NO for uri in refused)

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
