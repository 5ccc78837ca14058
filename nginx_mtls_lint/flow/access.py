"""The access phase (ngx_http_core_access_phase) and realip before it.

Each access module is one entry of ACCESS_CHECKS: a function reading the configuration in use
and the request, returning the Check it makes (or None when it is not configured there), in
the order nginx's modules register their handlers. `satisfy` combines them."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable

from ..model import StreamServer
from ..parser import Stmt
from ..records import LUA_PHASES, ErrorPage, lua_may_check
from .conf import Conf
from .content import UPSTREAM
from .evaluate import in_network, trusted_from
from .values import (ATTACKER, CLOUDFLARE_ADDRESS, DIRECT_ADDRESS, MAYBE, SPOOFED, UNKNOWN,
                     Result, State, Step, Unmodelled, Value)

if TYPE_CHECKING:
    from .phases import Simulator

@dataclass(frozen=True, slots=True)
class Check:
    """One access-phase check and what it says for this request."""

    what: str
    allowed: object  # True, False, ATTACKER or UNKNOWN
    stmt: Stmt
    status: int
    page: Step | None = None  # the auth subrequest's step that decided (error_page, if)
    refused_by: Stmt | None = None  # what refuses when an undecided check goes that way
    why: str = ""  # what it depends on, when `allowed` is not known


def realip(sim: "Simulator", state: State, conf: Conf) -> State:
    """ngx_http_realip: $remote_addr from a header, when the connection comes from an
    address `set_real_ip_from` trusts."""
    if state.realip_done:
        return state
    header = conf.get("real_ip_header")
    trusted = conf.group("set_real_ip_from")
    if header is None or not trusted or not header.args:
        return state
    state = replace(state, realip_done=True, variables=dict(state.variables))
    trusting = trusted_from(sim.values.connection_address(), trusted)
    if trusting is None:
        return state
    value = sim.values.variable("http_" + header.args[0].lower().replace("-", "_"), state)
    if header.args[0].lower() in ("x-real-ip", "x-forwarded-for", "cf-connecting-ip") \
            or isinstance(value, str):
        state.remote_addr = value
        state = state.step(trusting, f"realip: $remote_addr from {header.args[0]}")
    return state


# --------------------------------------------------------------------------- access modules


def _access_module(sim: "Simulator", state: State, conf: Conf) -> Check | None:
    """ngx_http_access: allow / deny."""
    rules = conf.group("allow", "deny")
    if not rules:
        return None
    sim.values.address_read = True
    allowed, stmt = access_rules(rules, state.remote_addr)
    if allowed is ATTACKER:  # the client picks an address an `allow` holds, or one it does not
        return Check("allow/deny", allowed, next(r for r in rules if r.name == "allow"), 403,
                     refused_by=rules[-1])
    return Check("allow/deny", allowed, stmt or rules[-1], 403)


def _auth_request_module(sim: "Simulator", state: State, conf: Conf) -> Check | None:
    auth = conf.get("auth_request")
    if auth is None or not auth.args or auth.args[0] == "off":
        return None
    allowed, status, page, why = auth_request(sim, auth, state)
    return Check("auth_request", allowed, auth, status, page, why=why)


def _lua_module(sim: "Simulator", state: State, conf: Conf) -> list[Check]:
    checks = []
    for phase in LUA_PHASES:
        lua = conf.group(*phase)
        if lua and lua_may_check(lua[-1]):
            # Its code decides; the valid client is taken to pass (as the server means).
            stmt = lua[-1]
            checks.append(Check(stmt.name, True if sim.values.client.kind == "valid"
                                else UNKNOWN, stmt, 403, why=Unmodelled(
                                    f"`{stmt.name}`: its Lua code decides, and the analysis "
                                    "does not run it", stmt.name, stmt, stmt)))
    return checks


def _auth_basic_module(sim: "Simulator", state: State, conf: Conf) -> Check | None:
    basic = conf.get("auth_basic")
    if basic is None or not basic.args or basic.args[0] == "off":
        return None
    # Cloudflare's visitors may hold the password; a client going around it does not.
    return Check("auth_basic", UNKNOWN if sim.values.client.kind == "valid" else False,
                 basic, 401)


AccessModule = Callable[["Simulator", State, Conf], "Check | list[Check] | None"]
# In the order their checks are made.
ACCESS_CHECKS: tuple[AccessModule, ...] = (
    _access_module, _auth_request_module, _lua_module, _auth_basic_module)


def access_phase(sim: "Simulator", state: State, conf: Conf) -> Result:
    state = realip(sim, state, conf)
    if state.subrequest:
        return sim.content(state, conf)
    limited = _over_limit(sim, state, conf)
    if limited is not None:
        stmt, status = limited
        return sim.fork(ATTACKER, f"`{stmt.name} {' '.join(stmt.args)}`: the client "
                        f"sends requests faster than the limit ({status})", state,
                        lambda st: _access_checks(sim, st, conf),
                        lambda st: sim.finalize(st.step(stmt, f"{stmt.name}: over the limit, "
                                                        f"{status}"), conf, status, stmt))
    return _access_checks(sim, state, conf)


def _over_limit(sim: "Simulator", state: State, conf: Conf) -> tuple[Stmt, int] | None:
    """ngx_http_limit_req / ngx_http_limit_conn (the preaccess phase, before the access
    checks): a client over the limit gets their status (503 unless `*_status` says), which
    only matters when an error_page takes it."""
    if sim.values.probing:
        return None
    for name in ("limit_req", "limit_conn"):
        stmt = conf.get(name)
        if stmt is None or not stmt.args:
            continue
        setting = conf.get(name + "_status")
        status = int(setting.args[0]) if setting is not None and setting.args and \
            setting.args[0].isdigit() else 503
        if any(page.takes(status) for page in conf.error_pages()):
            return stmt, status
    return None


def _access_checks(sim: "Simulator", state: State, conf: Conf) -> Result:
    checks: list[Check] = []
    for module in ACCESS_CHECKS:
        made = module(sim, state, conf)
        if isinstance(made, list):
            checks.extend(made)
        elif made is not None:
            checks.append(made)
    if not checks:
        return sim.content(state, conf)
    if sim.values.probing:
        checks = [replace(c, allowed=UNKNOWN) for c in checks]
    satisfy = conf.get("satisfy")
    return decide_access(sim, state, conf, checks,
                         satisfy is not None and satisfy.args[:1] == ["any"])


def decide_access(sim: "Simulator", state: State, conf: Conf, checks: list[Check],
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
                return decide_access(sim, st, conf, rest, any_mode)
            return go

        why = (SPOOFED if check.what == "allow/deny" and check.allowed is ATTACKER
               else check.why or f"`{check.stmt.name} {' '.join(check.stmt.args)}` "
               "depends on the request")
        if isinstance(why, Unmodelled):
            why = why.at(check.stmt)
        return sim.fork(check.allowed, why, state, settle(True), settle(False))
    passed = [c for c in checks if c.allowed is True]
    failed = [c for c in checks if c.allowed is False]
    if (any_mode and passed) or not failed:
        for check in passed:
            state = state.step(check.stmt, f"{check.what} allows")
            if check.page is not None:  # the subrequest's error page allowed it
                state = state.add(replace(
                    check.page, label="the auth subrequest's " + check.page.label))
        return sim.content(state, conf)
    check = failed[0]
    state = state.step(check.refused_by or check.stmt, f"{check.what} denies")
    if check.page is not None:  # the auth subrequest's own check that refused
        state = state.add(check.page)
    return sim.finalize(state, conf, check.status, check.stmt)


def access_rules(rules: list[Stmt], address: Value) -> tuple[object, Stmt | None]:
    """ngx_http_access: the first rule that matches the address decides; none: allowed."""
    if not isinstance(address, str):
        if any(r.name == "allow" for r in rules):
            return (ATTACKER if address is ATTACKER else UNKNOWN), None
        return False, rules[0]
    rule = deciding_rule(rules, address)
    return (rule is None or rule.name == "allow"), rule


def auth_request(sim: "Simulator", stmt: Stmt,
                 state: State) -> tuple[object, int, Step | None, str]:
    """The subrequest's answer: 2xx allows, 401/403 deny, anything else is a 500. An
    error_page may answer the subrequest too, with its own status (`=`) or the original
    one; the step returned says so when it made the difference. When the answer is not
    known, why."""
    sub = State(uri=stmt.args[0].split("?", 1)[0], method="GET", internal=True,
                redirects=state.redirects, subrequest=True,
                remote_addr=state.remote_addr, realip_done=state.realip_done,
                variables=dict(state.variables))
    result = sim.server_rewrite(sub)
    outcome = result.witness
    page = next((s for s in reversed(outcome.trace)
                 if s.stmt is not None and s.stmt.name == "error_page"), None)
    unknown = _auth_unknown(stmt, result, page)
    if unknown:
        return UNKNOWN, 403, None, unknown
    status = outcome.status if outcome.kind != "content" else 200
    if page is not None and page.stmt is not None:
        status = ErrorPage.of(page.stmt).answers(page.status, status)
    if 200 <= status < 300:
        return True, 0, page, ""
    refusal = next((s for s in reversed(outcome.trace)
                    if s.stmt is not None and s.stmt.name == "if" and not s.passed), None)
    if refusal is not None:  # the subrequest's check that answered, shown on the path
        refusal = replace(refusal, label="the auth subrequest's " + refusal.label)
    return False, (status if status in (401, 403) else 500), refusal, ""


def _auth_unknown(stmt: Stmt, result: Result, page: Step | None) -> str:
    """Why the auth subrequest's answer is not known ("" when it is): it depends on
    something itself, or the auth location's own upstream (an auth service) answers, which
    is not in the configuration. (Sent there by an error_page, it is the site itself: 200.)"""
    outcome = result.witness
    at = f"`auth_request {stmt.args[0]}`"
    if result.verdict == MAYBE:
        why = f"{at}: its subrequest depends on {outcome.reason or 'the request'}"
        construct = getattr(outcome.reason, "construct", "")
        origin = getattr(outcome.reason, "origin", None)
        return Unmodelled(why, construct, stmt, origin) if outcome.limit else why
    if outcome.kind == "content" and outcome.stmt is not None and \
            outcome.stmt.name in UPSTREAM and page is None:
        return Unmodelled(
            f"{at}: the auth service `{outcome.stmt.name} {' '.join(outcome.stmt.args)}` "
            "answers, and its answer is not in the configuration", "auth service", stmt,
            outcome.stmt)
    return ""


def deciding_rule(rules: list[Stmt], address: str) -> Stmt | None:
    """ngx_http_access / ngx_stream_access: the first `allow` or `deny` matching the address
    decides; None: no rule matches (allowed)."""
    for rule in rules:
        target = rule.args[0] if rule.args else ""
        if target == "all" or in_network(address, target):
            return rule
    return None


def stream_refusal(server: StreamServer) -> Stmt | None:
    """The `deny` that closes a direct client's connection to a stream {} server before the
    TLS handshake (the access phase runs before the ssl one); None when such a client gets
    past the rules: allowed, or writing its own address in a PROXY protocol header from an
    address `set_real_ip_from` trusts (ngx_stream_realip, before the access phase), or
    through Cloudflare when its ranges are allowed (any Cloudflare customer can point a
    Spectrum application at the origin)."""
    if any(listen.proxy_protocol for listen in server.listens) and trusted_from(
            DIRECT_ADDRESS, [s.stmt for s in server.settings("set_real_ip_from")]):
        return None
    rules = server.access_rules()
    rule = deciding_rule(rules, DIRECT_ADDRESS)
    via_cloudflare = deciding_rule(rules, CLOUDFLARE_ADDRESS)
    if via_cloudflare is not None and via_cloudflare.name == "allow":
        return None
    return rule if rule is not None and rule.name == "deny" else None
