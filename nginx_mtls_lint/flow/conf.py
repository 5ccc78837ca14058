"""The configuration a request is handled with, level by level (http, server, location, `if`
and `limit_except` blocks), and how nginx inherits directives down those levels."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..model import Location, Scope, Stmt, flatten


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
