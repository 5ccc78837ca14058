from __future__ import annotations

import difflib
import re
from typing import Iterator

from .. import catalogue
from ..directives import known
from ..findings import Finding
from ..model import Config, flatten
from ..parser import Stmt
from ..versions import shown
from . import Rule, RuleContext

VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
CAPTURE = re.compile(r"\(\?P?<(\w+)>")
# Directives whose arguments nginx compiles as scripts at start (an unknown variable there
# fails `nginx -t`), and which argument positions (None: all).
COMPILED: dict[str, slice] = {
    "set": slice(1, None), "return": slice(None), "proxy_pass": slice(None),
    "fastcgi_pass": slice(None), "uwsgi_pass": slice(None), "scgi_pass": slice(None),
    "grpc_pass": slice(None), "proxy_set_header": slice(1, None),
    "fastcgi_param": slice(1, None), "uwsgi_param": slice(1, None),
    "scgi_param": slice(1, None), "grpc_set_header": slice(1, None),
    "add_header": slice(1, None), "root": slice(None), "alias": slice(None),
    "try_files": slice(None), "map": slice(0, 1), "geo": slice(0, 1),
    "split_clients": slice(0, 1), "auth_request_set": slice(1, None),
    "limit_req_zone": slice(0, 1), "limit_conn_zone": slice(0, 1), "log_format": slice(1, None),
    "rewrite": slice(1, 2), "error_page": slice(-1, None),
}
# Directives that define a variable: (name, argument position of the `$name`).
DEFINING = {"set": 0, "map": 1, "geo": -1, "split_clients": 1, "perl_set": 0, "js_set": 0,
            "auth_request_set": 0, "njs_set": 0}


class UnknownVariable(Rule):
    """A variable that this nginx does not define: `nginx -t` fails ("unknown variable").

    ## Why
    nginx compiles every `$variable` of `set`, `if`, `return`, `proxy_pass`, headers and
    `map` sources when it loads the configuration. A name no module defines (a typo such as
    `$ssl_client_verfiy`, or a variable of a newer nginx such as `$ssl_sigalg`, added in
    1.29) stops `nginx -t` with `unknown "..." variable`: the running nginx keeps its old
    configuration, and the check you deployed is not in force.

    The linter knows every variable of the http and stream modules of nginx 1.22.1, 1.26.2,
    1.28.0 and 1.30.4, read from their variable tables (`python -m
    nginx_mtls_lint.catalogue`), with the families (`$http_*`, `$arg_*`, `$cookie_*`,
    `$ssl_client_*` ...), and the variables the configuration itself defines (`set`, `map`,
    `geo`, `split_clients`, `perl_set`, `js_set`, `auth_request_set`, named regex captures).
    For a target nginx (`--nginx-version`) a variable that version lacks is reported; with
    no target, only a name no version has, and not when third-party modules are loaded
    (they define variables of their own).

    nginx resolves variables once the whole http {} is read, so a `map` in the nginx.conf
    defines a name for every file it includes, even when written after the include. A
    fragment linted alone (a conf.d or sites-enabled file, outside the nginx.conf that
    includes it) therefore reports only a near-miss of a name nginx defines
    (`$ssl_client_verfiy`); another name (`$connection_upgrade`) may come from that
    nginx.conf. Lint the nginx.conf to have every name checked.

    ## Example
    ```nginx
    server {
        listen 443 ssl;
        server_name app.example.com;
        ssl_certificate     /etc/nginx/certs/server.pem;
        ssl_certificate_key /etc/nginx/certs/server.key;
        ssl_client_certificate /etc/nginx/certs/internal-ca.pem;
        ssl_verify_client optional;
        if ($ssl_client_verfiy != SUCCESS) {  # expect: MTLS010
            return 403;
        }
        location / { proxy_pass http://127.0.0.1:8080; }
    }
    ```

    ## Fix
    Correct the name (`$ssl_client_verify`), define it (`set`, `map`), or use what this
    version has. `nginx -t` confirms.

    ## Verified
    With nginx 1.22.1 (Debian 12): `nginx -t` fails with `unknown "ssl_client_verfiy"
    variable`; nginx 1.28.0 refuses `$ssl_sigalg`, 1.30.4 accepts it
    (`pytest -m nginx -k MTLS010`).
    """

    id = "MTLS010"
    name = "unknown-variable"
    severity = "warning"
    tags = ("reliability",)
    security_severity = "3.0"

    def check(self, config: Config, ctx: RuleContext) -> Iterator[Finding]:
        # a file without http {} is a conf.d fragment: its servers are http {} servers
        statements = list(_statements(config.tree.stmts, "http"))
        # Linted alone, a fragment's http {} is not all here: nginx resolves variables once
        # the whole http {} is read, so a `map` of the nginx.conf that includes it (even
        # written after the include) defines a name for it.
        alone = config.fragment
        defined = _defined(statements)
        third_party = any(not known(s.name) or s.name == "load_module" or
                          s.name.endswith(("_by_lua", "_by_lua_block", "_by_lua_file"))
                          or s.name.startswith(("js_", "perl", "lua_"))
                          for s, _ in statements)
        seen: set[tuple[str, int, str]] = set()
        for stmt, module in statements:
            for name in _used(stmt):
                if name in defined or name.isdigit() or (stmt.file, stmt.line, name) in seen:
                    continue
                why = self._lacking(name, module, ctx, third_party or alone)
                if why is None and alone:
                    why = _misspelt(name, module)
                if why is None:
                    continue
                seen.add((stmt.file, stmt.line, name))
                yield self.finding(
                    stmt,
                    f"unknown \"{name}\" variable: {why}, so "
                    "`nginx -t` fails and nginx keeps running its old configuration.",
                    f"Correct the name, define it (`set ${name} ...;` or a `map`), or remove "
                    "what uses it.")

    @staticmethod
    def _lacking(name: str, module: str, ctx: RuleContext, third_party: bool) -> str | None:
        """Why nginx lacks `$name` in `module` (http or stream); None when it may have it."""
        found = catalogue.variable_versions(name, module)
        target = ctx.target
        if found is None:
            if third_party:
                return None  # a module of its own may define it
            return f"no nginx module defines it in {module} {{}}"
        if target.upstream is None:
            return None
        version = shown(target.upstream)
        every = catalogue.load()["versions"]
        key = _key
        below = [v for v in every if key(v) <= key(version)]
        above = [v for v in every if key(v) >= key(version)]
        if (below or above) and all(v not in found for v in below[-1:] + above[:1]):
            first = found[0]
            return (f"nginx {version} has no ${name} ({module}; nginx {first} has it)"
                    if key(first) > key(version) else
                    f"nginx {version} has no ${name} ({module}; it was removed after "
                    f"{found[-1]})")
        return None


def _misspelt(name: str, module: str) -> str | None:
    """Why a name no module defines is wrong even where the rest of http {} is not known:
    it is a misspelling of one nginx defines (the nginx.conf around a fragment defines its
    own names, not near-misses of nginx's)."""
    if catalogue.variable_versions(name, module) is not None:
        return None
    names = [key.partition(":")[2] for key, entry in catalogue.load()["variables"].items()
             if key.startswith(module + ":") and not entry["prefix"]]
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.8)
    if not close:
        return None
    return f"no nginx module defines it in {module} {{}} (a misspelling of ${close[0]}?)"


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def _statements(stmts: list[Stmt], module: str) -> Iterator[tuple[Stmt, str]]:
    """Every directive with the module its variables come from (http or stream), through
    includes; the entries of data blocks (map, geo, Lua) are not directives."""
    for stmt in flatten(stmts):
        if stmt.name == "#":
            continue
        inner = stmt.name if stmt.name in ("http", "stream", "mail") else module
        yield stmt, inner
        if stmt.block is not None and stmt.name not in FREE_FORM:
            yield from _statements(stmt.block, inner)


FREE_FORM = frozenset(("map", "geo", "types", "split_clients", "charset_map", "match",
                       "perl_set", "js_set", "upstream_conf")) | frozenset(
    n for n in ("content_by_lua_block", "access_by_lua_block", "rewrite_by_lua_block",
                "init_by_lua_block", "set_by_lua_block", "log_by_lua_block",
                "header_filter_by_lua_block", "body_filter_by_lua_block"))


def _defined(statements: list[tuple[Stmt, str]]) -> set[str]:
    """Variables the configuration defines, and named captures of its regexes."""
    found: set[str] = set()
    for stmt, _ in statements:
        position = DEFINING.get(stmt.name)
        if position is None and (stmt.name.startswith("set_") or "_set" in stmt.name):
            position = 0  # set-misc's set_*, ..._set of other modules
        if position is not None and len(stmt.args) > max(position, -position - 1):
            found |= {m.group(1) or m.group(2) for m in VARIABLE.finditer(stmt.args[position])}
        for arg in stmt.args:
            found |= set(CAPTURE.findall(arg))
    return found


def _used(stmt: Stmt) -> list[str]:
    if stmt.name == "if":
        return _used_in_condition(stmt.args)
    positions = COMPILED.get(stmt.name)
    if positions is None:
        return []
    return [m.group(1) or m.group(2) for arg in stmt.args[positions]
            for m in VARIABLE.finditer(arg)]


def _used_in_condition(args: list[str]) -> list[str]:
    """The variable tested, and any in a string operand (a regex operand is not compiled)."""
    text = " ".join(args).strip("()").strip()
    words = text.split(None, 2)
    found = [words[0]] if words else []
    if len(words) == 3 and words[1] in ("=", "!="):
        found.append(words[2])
    return [m.group(1) or m.group(2) for part in found for m in VARIABLE.finditer(part)]
