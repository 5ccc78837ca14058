"""The flow's vocabulary: verdicts, the values a request's variables take, and the records a
simulated request leaves (who sent it, the steps it took, where it ended)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

from ..parser import Stmt
from ..records import Location


class Verdict(str, Enum):
    """Does the client reach the site's content? YES (some path the client can force ends in
    content), NO (no path does), MAYBE (it depends on something the configuration does not
    tell). Equal to (and hashed as) its lowercase string, which JSON output shows."""

    YES = "yes"
    MAYBE = "maybe"
    NO = "no"

    __hash__ = str.__hash__

    def __str__(self) -> str:
        return self.value


YES, MAYBE, NO = Verdict.YES, Verdict.MAYBE, Verdict.NO


class Special(Enum):
    """A value that is not a string the configuration tells: ATTACKER, one the client chooses
    (a header, a self-signed certificate's names); UNKNOWN, one the configuration does not tell
    (a module's variable, a file test); EXPECTED, what the valid client's certificate holds (it
    satisfies the server's own pins)."""

    ATTACKER = "<client-chosen>"
    UNKNOWN = "<unknown>"
    EXPECTED = "<expected>"

    def __repr__(self) -> str:
        return self.value


ATTACKER, UNKNOWN, EXPECTED = Special.ATTACKER, Special.UNKNOWN, Special.EXPECTED
Value = object  # str | ATTACKER | UNKNOWN | EXPECTED

MAX_REDIRECTS = 10  # NGX_HTTP_MAX_URI_CHANGES
MAX_PATHS = 512  # forks per request before the answer becomes MAYBE
# Addresses the simulated clients connect from (documentation ranges and a Cloudflare edge).
DIRECT_ADDRESS = "198.51.100.7"
CLOUDFLARE_ADDRESS = "173.245.48.5"
VISITOR_ADDRESS = "203.0.113.50"  # what Cloudflare puts in CF-Connecting-IP
SPOOFED = "the client chooses its address (realip trusts it)"
VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


class Cause(str, Enum):
    """Why a client without a valid certificate got to content on a path (the first that
    applies, in this order). Each bypass rule declares the causes it owns (Rule.causes)."""

    ERROR_PAGE = "error_page"  # an error_page turned a refusal into content
    SPOOFED = "spoofed address"  # realip took an address the client chose, and it decided
    CHECK_PASSED = "check passed"  # an `if` on the certificate let the client past
    LIMIT_EXCEPT = "limit_except"  # a method outside limit_except: the location's ifs skipped
    UNCHECKED = "no check on the path"  # the location (or server root) checks nothing

    __hash__ = str.__hash__

    def __str__(self) -> str:
        return self.value

    @property
    def closed_by_verify_on(self) -> bool:
        """`ssl_verify_client on` refuses such a client in the handshake, before this path:
        true of every cause but an error page (it may answer the handshake's own 495/496)."""
        return self is not Cause.ERROR_PAGE

    @property
    def past_a_check(self) -> bool:
        """A certificate check is written for this path and failed to hold (it let the
        client past, or limit_except skipped it): the check is the cause, not the verify
        mode alone."""
        return self in (Cause.CHECK_PASSED, Cause.LIMIT_EXCEPT)


# The causes of the open paths `ssl_verify_client on` closes.
CLOSED_BY_VERIFY_ON = frozenset(cause for cause in Cause if cause.closed_by_verify_on)


@dataclass(frozen=True, slots=True)
class Client:
    """Who sends the request: what the handshake left in $ssl_client_*, from where, how."""

    kind: str  # none, failed, other-ca, valid, plain
    verify: str  # $ssl_client_verify ("" over plain HTTP)
    via_cloudflare: bool = False
    method: str = "GET"
    tunnel: bool = False  # cloudflared on this host: plain HTTP from the loopback address
    # the SNI the handshake carried, when the caller sent it ("" none; probe rows): None, the
    # flow works it out from the kind of client
    sni: str | None = None
    # request headers the caller sent, as (name, value) (probe rows): these are what the
    # request carries, not the client's choice; every other header stays the client's
    headers: tuple[tuple[str, str], ...] = ()

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


CANNOT_RUN = "cannot run the regex"  # the start of a fork's reason that is an analysis limit


class Unmodelled(str):
    """A reason naming what the analysis does not model (a file test, a variable of unknown
    origin, a module's code, a regex it cannot run): a decision resting on it is "cannot
    prove" (Outcome.limit), never "held". A plain str reason is something the configuration
    leaves open by design (the application receives the verdict and decides). `construct`
    names what is not modelled: a directive, a $variable, a file test."""

    construct: str
    stmt: Stmt | None  # the directive whose decision rests on it
    origin: Stmt | None  # the directive not modelled (a module's), when one is

    def __new__(cls, text: str, construct: str = "", stmt: Stmt | None = None,
                origin: Stmt | None = None) -> "Unmodelled":
        made = super().__new__(cls, text)
        made.construct = construct
        made.stmt = stmt
        made.origin = origin
        return made

    def at(self, stmt: Stmt | None) -> "Unmodelled":
        """The same reason, located at the directive that decides on it (if not yet)."""
        return self if self.stmt is not None else \
            Unmodelled(self, self.construct, stmt, self.origin)


# Directives that change a request's answer, but never whether a client the checks refuse
# gets the site's content: the flow follows them as having no such effect.
NO_EFFECT = {
    "absolute_redirect": "the form of a redirect's Location",
    "server_name_in_redirect": "the form of a redirect's Location",
    "addition_types": "a response body's additions (of a response already served)",
    "ssi": "a response body's includes (of a response already served)",
    "sub_filter": "a response body's text",
    "auth_basic_user_file": "the passwords of auth_basic (the client knows none)",
    "auth_http": "the mail proxy's authentication",
    "disable_symlinks": "a file refused (never one served)",
    "open_file_cache": "how files are looked up",
    "log_not_found": "logging",
    "ignore_invalid_headers": "which headers arrive (every header is the client's)",
    "underscores_in_headers": "which headers arrive (every header is the client's)",
    "mirror": "a copy of the request whose answer nginx drops",
    "valid_referers": "$invalid_referer, which the client's Referer decides",
    "ssl_preread": "a stream {} relay (model.relayed_sockets)",
}


def because(text: str, why: str, stmt: Stmt | None = None) -> str:
    """`text` followed by a reason, Unmodelled (at `stmt`) when the reason is."""
    if isinstance(why, Unmodelled):
        return Unmodelled(text + why, why.construct, why.stmt or stmt, why.origin)
    return text + why


def is_limit(why: str) -> bool:
    return isinstance(why, Unmodelled) or why.startswith(CANNOT_RUN)


@dataclass(slots=True)
class Outcome:
    """Where one path ended."""

    kind: str  # content, errorfile, reject, redirect, text, close, unknown
    status: int
    stmt: Stmt | None  # the directive that answered (or served)
    location: Location | None
    trace: tuple[Step, ...]
    reason: str = ""
    # The analysis stopped here (a budget spent, a construct it does not model), not the
    # configuration: "cannot prove" (MTLS914), never "held".
    limit: bool = False

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

    verdict: Verdict
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


@dataclass(slots=True)
class State:
    """One request on its way through the phases (what nginx keeps in ngx_http_request_t)."""

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
    # The path so far, newest first, shared with the states it came from: a step costs the
    # same at the 10,000th statement as at the first (a tuple copied per step is quadratic).
    steps: "_Steps | None" = None

    @property
    def trace(self) -> tuple[Step, ...]:
        found: list[Step] = []
        node = self.steps
        while node is not None:
            found.append(node.step)
            node = node.previous
        return tuple(reversed(found))

    def step(self, stmt: Stmt | None, label: str, passed: bool = False) -> "State":
        return self.add(Step(stmt, label, passed=passed))

    def add(self, step: Step) -> "State":
        """The state after `step`. It takes the variables over (a path goes on from its
        newest state only); where paths part, each takes a copy (`branch`)."""
        return self.copy(self.variables, _Steps(step, self.steps))

    def branch(self, stmt: Stmt | None, label: str) -> "State":
        """A step into one of several paths from here: its variables its own."""
        return self.copy(dict(self.variables), _Steps(Step(stmt, label), self.steps))

    def copy(self, variables: dict[str, Value], steps: "_Steps | None") -> "State":
        """This state with these variables and steps (dataclasses.replace, without its
        cost: a state is copied at every step of every request)."""
        return State(self.uri, self.method, self.internal, self.redirects,
                     self.error_page_used, self.from_error_page, variables, self.remote_addr,
                     self.realip_done, self.subrequest, self.uri_changed, steps)


@dataclass(slots=True, frozen=True)
class _Steps:
    step: Step
    previous: "_Steps | None"


class Budget:
    def __init__(self) -> None:
        self.paths = 0
