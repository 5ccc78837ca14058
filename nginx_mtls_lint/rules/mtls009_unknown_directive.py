from __future__ import annotations

from typing import Iterator

from ..directives import FREE_FORM_BLOCKS, known
from ..findings import Finding
from ..model import Config, flatten
from ..parser import Stmt
from . import Rule, RuleContext


def statements(stmts: list[Stmt]) -> Iterator[Stmt]:
    """Every directive of a tree, through includes, but not the entries of blocks whose lines
    are data (a map's keys, MIME types, Lua code)."""
    stack = [iter(flatten(stmts))]
    while stack:
        stmt = next(stack[-1], None)
        if stmt is None:
            stack.pop()
            continue
        if stmt.name == "#":
            continue
        yield stmt
        if stmt.block is not None and stmt.name not in FREE_FORM_BLOCKS:
            stack.append(iter(flatten(stmt.block)))


class UnknownDirective(Rule):
    """A directive that nginx does not know: `nginx -t` fails unless a module provides it.

    ## Why
    A stray word pasted into a configuration (`ssl_verify_clinet on;`, a line of a shell
    command, a directive of a module this nginx does not load) stops nginx from starting or
    reloading: `nginx -t` says `unknown directive "..."`. Until someone notices, the
    running nginx keeps its old configuration, and the fix you deployed, an
    `ssl_verify_client on;` perhaps, is not in force.

    The linter knows every directive of upstream nginx 1.26 to 1.30 (all modules), NGINX
    Plus's, and the common third-party modules' by their prefixes (headers-more, Lua,
    brotli, set-misc, njs, ModSecurity, ...). The entries of `map`, `geo`, `types` and Lua
    blocks are data, not directives. For a target nginx (`--nginx-version`), directives that
    version does not have are unknown too: `ssl on;` from 1.25.1 (removed), `http2 on;`
    before 1.25.1, `ssl_reject_handshake` before 1.19.4.

    ## Example
    ```nginx
    server {
        listen 443 ssl;
        server_name app.example.com;
        ssl_certificate     /etc/nginx/certs/server.pem;
        ssl_certificate_key /etc/nginx/certs/server.key;
        ssl_client_certificate /etc/nginx/certs/internal-ca.pem;
        ssl_verify_client on;
        ssl_verify_clinet_depth 2;  # expect: MTLS009
        location / { proxy_pass http://127.0.0.1:8080; }
    }
    ```

    ## Fix
    Correct the name (`ssl_verify_depth 2;`), or load the module that provides it
    (`load_module modules/ngx_..._module.so;`), or remove the line. `nginx -t` confirms.

    ## Verified
    With nginx 1.22.1 (Debian 12): `nginx -t` fails with `unknown directive
    "ssl_verify_clinet_depth"`. By version: `ssl on;` passes `nginx -t` on Debian's 1.22.1
    and fails on 1.26.2; `http2 on;` fails on 1.22.1 and passes on 1.26.2
    (`pytest -m nginx -k ssl_on_and_http2_on`).
    Reproduce: `pytest -m nginx -k MTLS009`.
    """

    id = "MTLS009"
    name = "unknown-directive"
    severity = "warning"
    tags = ("reliability",)
    security_severity = "3.0"

    def check(self, config: Config, ctx: RuleContext) -> Iterator[Finding]:
        seen: set[tuple[str, int, str]] = set()
        for stmt in statements(config.tree.stmts):
            lacking = ctx.target.lacks(stmt.name)  # a directive of other nginx versions
            if (known(stmt.name) and lacking is None) or (stmt.file, stmt.line,
                                                           stmt.name) in seen:
                continue
            seen.add((stmt.file, stmt.line, stmt.name))
            if lacking:
                yield self.finding(
                    stmt,
                    f"unknown directive \"{stmt.name}\": "
                    f"{lacking}, so `nginx -t` fails and nginx keeps running its old "
                    "configuration.",
                    "Remove the line, or use what this version has instead (`listen ... ssl` "
                    "for `ssl on`, `listen ... http2` for `http2 on`).")
                continue
            yield self.finding(
                stmt,
                f"unknown directive \"{stmt.name}\": `nginx -t` "
                "fails unless a module provides it, and nginx keeps running its old "
                "configuration.",
                "Correct the directive's name, load the module that provides it, or remove "
                "the line.")
