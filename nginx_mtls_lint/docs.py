"""The rule catalogue: rules/ID.md pages rendered from each rule's own docstring.

`python -m nginx_mtls_lint.docs` rewrites rules/; a test fails when a page is out of date.
"""

from __future__ import annotations

import os
import re
import sys

from .findings import DIAGNOSTICS, Diagnostic
from .rules import Rule, builtin_rules

CATALOGUE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "rules")
# `# expect: RULE` comments tell the tests what an example or fixture must give; readers of
# pages, SARIF help and console output do not need them.
EXPECT_MARKER = re.compile(r"[ \t]*#\s*expect:\s*[A-Z0-9, ]*[A-Z0-9](?=[ \t]*$)", re.MULTILINE)


def without_markers(text: str) -> str:
    return EXPECT_MARKER.sub("", text)


def all_rules(rules: list[type[Rule]] | None = None) -> list[type[Rule] | Diagnostic]:
    from .probe.rule import live_rules  # MTLS110: only `probe --from-config` reports it

    return [*(builtin_rules() if rules is None else rules), *live_rules(),
            *DIAGNOSTICS.values()]


def find_rule(key: str, rules: list[type[Rule]] | None = None) -> type[Rule] | Diagnostic | None:
    key = key.strip()
    for rule in all_rules(rules):
        if key.upper() == rule.id or key.lower() == rule.name:
            return rule
    return None


def render_page(rule: type[Rule] | Diagnostic) -> str:
    if isinstance(rule, Diagnostic):
        return (f"# {rule.id} {rule.name}\n\n{rule.summary}\n\n"
                f"Default severity: **{rule.severity}**. A diagnostic of the tool itself: the "
                "input could not be read as nginx reads it, so the analysis is incomplete.\n\n"
                f"## Fix\n{rule.fix}\n")
    summary, _, body = without_markers(rule.doc()).partition("\n")
    tags = ", ".join(f"`{t}`" for t in rule.tags)
    origin = "" if rule.origin == "built-in" else f" From {rule.origin}."
    return (f"# {rule.id} {rule.name}\n\n{summary.strip()}\n\n"
            f"Default severity: **{rule.severity}**. Tags: {tags}.{origin}\n\n{body.strip()}\n")


def render_index() -> str:
    rows = "\n".join(
        f"| [{r.id}]({r.id}.md) | `{r.name}` | {r.severity} | "
        f"{(r.summary() if isinstance(r, type) else r.summary).replace('|', '/')} |"
        for r in all_rules())
    return ("# Rules\n\nGenerated from the rule sources by `python -m nginx_mtls_lint.docs`; "
            "do not edit by hand.\n\n| ID | name | severity | what it finds |\n"
            f"|---|---|---|---|\n{rows}\n")


def expected_pages() -> dict[str, str]:
    pages = {f"{r.id}.md": render_page(r) for r in all_rules()}
    pages["README.md"] = render_index()
    return pages


def main() -> int:
    os.makedirs(CATALOGUE, exist_ok=True)
    for name, text in expected_pages().items():
        with open(os.path.join(CATALOGUE, name), "w", encoding="utf-8") as f:
            f.write(text)
    print(f"wrote {len(expected_pages())} pages to {CATALOGUE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
