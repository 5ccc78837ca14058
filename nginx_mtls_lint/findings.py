"""What every part of the tool reports: a Finding, and the tool's own diagnostics (MTLS9xx)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("error", "warning", "note")
SEVERITY_RANK = {"note": 0, "warning": 1, "error": 2}


@dataclass(slots=True)
class ServerRef:
    names: list[str]
    file: str
    line: int


@dataclass(slots=True)
class Finding:
    rule: str
    name: str
    severity: str
    message: str
    file: str | None
    line: int | None
    server: ServerRef | None = None
    fix: str | None = None
    suppressed: bool = False
    suppression_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def sort_key(self) -> tuple:
        return (self.file or "", self.line or 0, self.rule, self.message)


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """The tool's own findings about input it could not read as nginx would."""

    id: str
    name: str
    severity: str
    summary: str
    fix: str


DIAGNOSTICS = {
    d.id: d
    for d in (
        Diagnostic(
            "MTLS900", "parse-error", "error",
            "nginx cannot parse this file (`nginx -t` fails there); the linter analysed the "
            "statements it could read, but not a block cut off by the error.",
            "Correct the syntax; `nginx -t` shows the same error.",
        ),
        Diagnostic(
            "MTLS901", "include-not-found", "error",
            "An `include` names a file that does not exist, so part of the tree was not analysed.",
            "Fix the path, or map the absolute prefix onto your checkout with "
            "`--path-map /etc/nginx=DIR`.",
        ),
        Diagnostic(
            "MTLS902", "include-cycle", "error",
            "A file includes itself (directly or through others); nginx would recurse forever.",
            "Remove the `include` that closes the cycle.",
        ),
        Diagnostic(
            "MTLS903", "non-utf8", "warning",
            "The file holds bytes that are not UTF-8; they were read as U+FFFD.",
            "Save the file as UTF-8.",
        ),
        Diagnostic(
            "MTLS904", "unreadable-file", "error",
            "A configuration file could not be read (permissions, not a regular file, binary "
            "content or too large), so it was not analysed.",
            "Point the linter at regular, readable nginx configuration files.",
        ),
        Diagnostic(
            "MTLS905", "too-deep", "error",
            "Blocks or includes nest deeper than any real configuration; the deeper part was "
            "not analysed.",
            "Flatten the nesting.",
        ),
        Diagnostic(
            "MTLS906", "suppression-without-reason", "warning",
            "A suppression comment gives no reason; reviewers cannot tell why the finding is "
            "acceptable.",
            "Add the reason after `--`: `# nginx-mtls-lint: disable=MTLS002 -- why it is safe`.",
        ),
        Diagnostic(
            "MTLS907", "unused-suppression", "warning",
            "A suppression comment silences nothing; it would hide a future finding "
            "unnoticed.",
            "Remove the comment, or move it to the line of the finding it is meant for.",
        ),
        Diagnostic(
            "MTLS908", "malformed-suppression", "error",
            "A `# nginx-mtls-lint:` comment does not follow the suppression grammar or names "
            "an unknown rule, so it silences nothing.",
            "Write `# nginx-mtls-lint: disable=RULE[,RULE] -- reason` (also `disable-next-line=`,"
            " `disable-file=`, `enable=`), with rule IDs or names from `nginx-mtls-lint rules`.",
        ),
    )
}


def diagnostic(code: str, file: str | None, line: int | None, message: str) -> Finding:
    d = DIAGNOSTICS[code]
    return Finding(code, d.name, d.severity, message, file, line, None, d.fix)
