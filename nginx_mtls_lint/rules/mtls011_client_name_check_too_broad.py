from __future__ import annotations

from typing import Iterator

from .. import pcre
from ..findings import Finding
from ..flow.evaluate import DN_VARIABLES, not_rfc2253
from ..model import Config, walk
from ..parser import Stmt
from . import Rule, RuleContext

ALLOW_OPERATORS = ("!~", "!~*")  # `if ($ssl_client_s_dn !~ NAME) { refuse }`: an allow-list
SPECIAL = set("\\^$.*+?()[]{}|")
# what a certificate of the same CA may be named that a regex without an end admits too
SUFFIX = "-x.attacker.example"


def intended_name(pattern: str) -> str:
    """The name the regex spells out: its literal start (`.` read as a dot, `\\.` too)."""
    text, out, index = pattern.removeprefix("^"), [], 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text) and not text[index + 1].isalnum():
            out.append(text[index + 1])
            index += 2
            continue
        if char in SPECIAL and char != ".":
            break
        out.append(char)
        index += 1
    return "".join(out)


def wider_names(pattern: str, ignore_case: bool) -> list[str]:
    """Names the regex admits besides the one it spells: a longer value (no end anchor), and
    another character where it wrote an unescaped `.`."""
    compiled = pcre.compile(pattern, ignore_case)
    name = intended_name(pattern)
    if compiled is None or len(name) < 4 or not_rfc2253(pattern):  # refuses everyone
        return []
    try:
        if compiled.search(name) is None:
            return []  # not a name the regex spells out (a check that refuses everyone)
        found = []
        longer = name + SUFFIX
        if compiled.search(longer) is not None:
            found.append(longer)
        dot = pattern.find(".")
        if dot > 0 and pattern[dot - 1] != "\\" and "." in name:
            other = name.replace(".", "x", 1)
            if compiled.search(other) is not None:
                found.append(other)
        return found
    except pcre.Undecidable:
        return []


def anchored(name: str) -> str:
    """The regex that admits `name` as a whole attribute of an RFC 2253 name: the first one
    (CN, as nginx prints the most specific first) from the start, another after an unescaped
    `,`; each ending at `,` or the end."""
    escaped = name.replace(".", "\\.")
    start = "^" if name.upper().startswith("CN=") else "(^|[^\\x5c],)"  # x5c: a backslash
    return f"{start}{escaped}(,|$)"


class ClientNameCheckTooBroad(Rule):
    """A regex on the client certificate's name admits more names than the one it spells.

    ## Why
    `if ($ssl_client_s_dn !~ "CN=partner") { return 403; }` is meant to let in one client of
    the CA, but a regex matches anywhere in `$ssl_client_s_dn` (`CN=partner,O=Example` as nginx
    writes it, RFC 2253): `CN=partner-x.attacker.example` and `CN=partners` pass too, and an
    unescaped `.` matches any character (`CN=apixexample.com` for `CN=api.example.com`). Any
    certificate the same CA issued to such a name gets in: a shared company CA, a partner CA
    that signs for several partners. ingress-nginx renders `auth-tls-match-cn` exactly so
    (`if ($ssl_client_s_dn !~ "<value>")`), and requires the value to start with `CN=`.

    Reported for `!~` / `!~*` checks on `$ssl_client_s_dn` or `$ssl_client_i_dn` of a server
    that verifies client certificates against its CA (`on`, `optional`; under
    `optional_no_ca` a self-signed certificate carries any name: MTLS006), when the regex admits the name it spells with a suffix
    (no end anchor) or with another character for an unescaped `.`. A regex nginx's names can
    never match refuses the valid client: that is MTLS007.

    ## Example
    ```nginx
    server {
        listen 443 ssl;
        server_name api.example.com;
        ssl_certificate     /etc/nginx/certs/server.pem;
        ssl_certificate_key /etc/nginx/certs/server.key;
        ssl_client_certificate /etc/nginx/certs/internal-ca.pem;
        ssl_verify_client on;
        if ($ssl_client_s_dn !~ "CN=partner") {  # expect: MTLS011
            return 403;
        }
        location / { proxy_pass http://127.0.0.1:8080; }
    }
    ```

    ## Fix
    End the name where the attribute ends, and escape dots:
    ```nginx
    if ($ssl_client_s_dn !~ "^CN=partner(,|$)") { return 403; }
    ```
    With ingress-nginx: `nginx.ingress.kubernetes.io/auth-tls-match-cn: "CN=partner(,|$)"`.
    Better still, give each client a CA of its own and verify that CA only.

    ## Verified
    `pytest -m nginx -k MTLS011`: on nginx (Debian's, in a private network namespace) the
    ingress-nginx rendering of `auth-tls-match-cn: "CN=partner.example"` serves a client whose
    certificate the same CA issued to `CN=partner.example-x.attacker.example`, and the anchored
    `CN=partner\\.example(,|$)` refuses it (403) while serving `CN=partner.example`.
    """

    id = "MTLS011"
    name = "client-name-check-too-broad"
    severity = "warning"
    tags = ("security", "mtls")
    security_severity = "5.0"

    def check(self, config: Config, ctx: RuleContext) -> Iterator[Finding]:
        seen: set[int] = set()
        for server in config.servers:
            if server.verification.mode not in ("on", "optional"):
                continue  # optional_no_ca: a self-signed certificate carries any name
            for stmt in walk(server.stmt.block):
                if id(stmt) in seen or not _name_check(stmt):
                    continue
                seen.add(id(stmt))
                variable, operator, pattern = stmt.args
                wider = wider_names(pattern, operator.endswith("*"))
                if not wider:
                    continue
                yield self.finding(
                    stmt,
                    f"`if ({variable} {operator} \"{pattern}\")` lets in more than {intended_name(pattern)}: a certificate of the same CA "
                    f"with {' or '.join(wider)} in its name matches too (a regex matches "
                    "anywhere in the name).",
                    f"Anchor the name: `\"{anchored(intended_name(pattern))}\"`.", server)


def _name_check(stmt: Stmt) -> bool:
    return stmt.name == "if" and len(stmt.args) == 3 and stmt.args[0] in DN_VARIABLES \
        and stmt.args[1] in ALLOW_OPERATORS
