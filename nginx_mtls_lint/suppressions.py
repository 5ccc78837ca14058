"""Inline suppressions: `# nginx-mtls-lint: disable=MTLS002 -- reason`.

- a trailing comment covers its own line;
- a comment on a block's opening line (`server {  # ...`) covers the whole block;
- a standalone comment covers the rest of its block in that file, until `enable=`;
- `disable-next-line=` covers the next statement; `disable-file=` the whole file.
IDs or names, comma-separated; the reason after `--` is required. `until=YYYY-MM-DD` after
the IDs gives a deadline (a staged rollout): after it the findings return, as errors, and the
comment is reported (MTLS915).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from .findings import DIAGNOSTICS, Finding, diagnostic
from .parser import Stmt

Resolver = Callable[[str], "str | None"]  # a rule's ID or name -> its ID, None if unknown

# Matched against the comment with its trailing space removed: no two `\s*` meet and no
# lazy `.*?` runs before `\s*$`, so a comment of 128k spaces costs a linear scan, not a
# quadratic backtrack.
SUPPRESSION = re.compile(
    r"^\s*nginx-mtls-lint\s*:\s*(?P<verb>disable-next-line|disable-file|disable|enable)\s*"
    r"=\s*(?P<ids>[A-Za-z0-9_\-]+(?:\s*,\s*[A-Za-z0-9_\-]+)*)"
    r"(?:\s+until\s*=\s*(?P<until>[0-9-]+))?(?:\s*--(?P<reason>.*))?$",
    re.IGNORECASE)
TOOL_COMMENT = re.compile(r"^\s*nginx-mtls-lint\s*:", re.IGNORECASE)
ANNOTATIONS = re.compile(r"^\s*nginx-mtls-lint\s*:\s*(not-)?cloudflare\s*$", re.IGNORECASE)
WHOLE_FILE = 10**9
OWN_DIAGNOSTICS = {d.id for d in DIAGNOSTICS.values() if not d.suppressible}


@dataclass(slots=True, eq=False)
class Suppression:
    comment: Stmt
    rules: frozenset[str]
    reason: str | None
    start: int
    end: int
    used: bool = False
    until: dt.date | None = None  # the deadline of a staged rollout, if any

    def expired(self, today: dt.date) -> bool:
        return self.until is not None and today > self.until


@dataclass(slots=True)
class FileSuppressions:
    items: list[Suppression] = field(default_factory=list)
    problems: list[Finding] = field(default_factory=list)


def shorten(text: str, limit: int = 120) -> str:
    """A comment quoted in a message: runs of blanks as one, at most `limit` characters."""
    text = re.sub(r"[ \t]{2,}", " ", text)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def collect(stmts: list[Stmt], resolve_rule: Resolver) -> FileSuppressions:
    """Suppressions written in one file. `resolve_rule` maps an ID or name to an ID or None."""
    found = FileSuppressions()
    _collect_block(stmts, None, WHOLE_FILE, found, resolve_rule)
    return found


def _collect_block(block: list[Stmt], opener: Stmt | None, end: int, found: FileSuppressions,
                   resolve_rule: Resolver) -> None:
    open_ranges: list[Suppression] = []  # standalone disables waiting for `enable=` or the end
    for index, stmt in enumerate(block):
        if stmt.block is not None:
            _collect_block(stmt.block, stmt, stmt.end_line or stmt.line, found, resolve_rule)
            continue
        text = stmt.comment
        if text is None or not TOOL_COMMENT.match(text) or ANNOTATIONS.match(text):
            continue
        parsed = _parse(stmt, text, found, resolve_rule)
        if parsed is None:
            continue
        verb, rules, reason, until = parsed
        if verb == "enable":
            for item in open_ranges:
                if item.end == end and item.rules & set(rules):
                    item.end = stmt.line  # an enable closes the disables still open
            continue
        if reason is None:
            found.problems.append(diagnostic(
                "MTLS906", stmt.file, stmt.line,
                f"suppression of {', '.join(rules)} gives no reason after `--`"))
        previous = block[index - 1] if index else None
        standalone = False
        if verb == "disable-file":
            start, stop = 1, WHOLE_FILE
        elif verb == "disable-next-line":
            following = next((s for s in block[index + 1:] if s.name != "#"), None)
            start = stop = following.line if following else stmt.line + 1
        elif previous is not None and previous.name != "#" and previous.line == stmt.line:
            start = stop = stmt.line  # trailing
        elif opener is not None and stmt.line == opener.line:
            start, stop = opener.line, end  # on the block's opening line: the whole block
        else:
            start, stop, standalone = stmt.line, end, True
        item = Suppression(stmt, frozenset(rules), reason, start, stop, until=until)
        found.items.append(item)
        if standalone:
            open_ranges.append(item)


def _parse(stmt: Stmt, text: str, found: FileSuppressions,
           resolve_rule: Resolver) -> tuple[str, list[str], str | None, dt.date | None] | None:
    """(verb, rule IDs, reason, deadline) of a suppression comment; None, with MTLS908, when
    it cannot be read (grammar, unknown rule, a deadline that is no date)."""
    match = SUPPRESSION.match(text.rstrip())
    rules = [resolve_rule(r.strip()) for r in match.group("ids").split(",")] if match else []
    until = _date(match.group("until")) if match else None
    if not match or None in rules:
        problem = (f"cannot read `#{shorten(text.rstrip())}`: expected `nginx-mtls-lint: "
                   "disable=RULE[,RULE] -- reason` with known rule IDs or names")
    elif match.group("until") and until is None:
        problem = f"cannot read `until={match.group('until')}`: expected a date, until=YYYY-MM-DD"
    else:
        reason = (match.group("reason") or "").strip() or None
        return match.group("verb").lower(), [r for r in rules if r is not None], reason, until
    found.problems.append(diagnostic("MTLS908", stmt.file, stmt.line, problem))
    return None


def ago(delta: dt.timedelta) -> str:
    return f"{delta.days} day{'' if delta.days == 1 else 's'} ago"


def _date(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None


# What a verify mode lets in without a valid certificate (a rollout's current state).
ADMITTED = {
    "optional": ["clients without a certificate"],
    "optional_no_ca": ["clients without a certificate",
                       "clients with any certificate (self-signed, another CA's)"],
    "off": ["every client (no certificate is asked for)"],
}


def rollout(finding: Finding, until: dt.date, today: dt.date) -> dict[str, Any]:
    """What JSON and SARIF say about a finding suppressed until a date."""
    mode = (finding.directive or "").split()
    admitted = ADMITTED.get(mode[1]) if len(mode) > 1 and mode[0] == "ssl_verify_client" \
        else None
    return {"until": until.isoformat(), "days_left": (until - today).days,
            "admitted": admitted}


def _suppress(finding: Finding, item: Suppression, today: dt.date) -> None:
    item.used = True
    if item.expired(today):
        finding.severity = "error"  # the rollout's deadline has passed
        return
    finding.suppressed, finding.suppression_reason = True, item.reason
    if item.until is not None:
        finding.extra["rollout"] = rollout(finding, item.until, today)


def apply(file_stmts: dict[str, list[Stmt]], findings: list[Finding], resolve_rule: Resolver,
          report_unused: bool = True, today: dt.date | None = None) -> list[Finding]:
    """Mark suppressed findings; return the suppression diagnostics (MTLS906-908, MTLS915).
    A suppression past its `until=` date silences nothing: its findings become errors."""
    today = today or dt.date.today()
    by_file = {file: collect(stmts, resolve_rule) for file, stmts in file_stmts.items()}
    for finding in findings:
        if finding.rule in OWN_DIAGNOSTICS or finding.file not in by_file:
            continue
        for item in by_file[finding.file].items:
            if finding.rule in item.rules and item.start <= (finding.line or 0) <= item.end:
                _suppress(finding, item, today)
    items = [item for found in by_file.values() for item in found.items]
    problems = [p for found in by_file.values() for p in found.problems]
    problems += [expired(item, today) for item in items if item.expired(today)]
    if report_unused:
        problems += [
            diagnostic("MTLS907", item.comment.file, item.comment.line,
                       f"suppression of {', '.join(sorted(item.rules))} silences nothing")
            for item in items if not item.used and not item.expired(today)]
    return problems


def expired(item: Suppression, today: dt.date) -> Finding:
    assert item.until is not None
    return diagnostic("MTLS915", item.comment.file, item.comment.line,
                      f"suppression of {', '.join(sorted(item.rules))} expired on "
                      f"{item.until.isoformat()} ({ago(today - item.until)}): its findings "
                      "are reported again, as errors")


def config_rollouts(until: dict[str, tuple[dt.date, str]], findings: list[Finding],
                    today: dt.date) -> list[Finding]:
    """`rules: {MTLS002: off until=DATE}` in the configuration file: the rule's findings are
    suppressed until the date, errors after it, and the expired entry is MTLS915."""
    expired = []
    for rule, (deadline, where) in until.items():
        for finding in findings:
            if finding.rule != rule or finding.suppressed:
                continue
            if today > deadline:
                finding.severity = "error"
            else:
                finding.suppressed = True
                finding.suppression_reason = f"staged rollout until {deadline} ({where})"
                finding.extra["rollout"] = rollout(finding, deadline, today)
        if today > deadline:
            expired.append(diagnostic(
                "MTLS915", where, None,
                f"`{rule}: off until={deadline}` expired {ago(today - deadline)}: "
                f"{rule}'s findings are reported again, as errors"))
    return expired
