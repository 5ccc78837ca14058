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


@dataclass(frozen=True, slots=True)
class Related:
    """A piece of evidence a verdict used, somewhere else than the finding's own line."""

    file: str
    line: int
    label: str  # short: "Cloudflare signal: ...", "client CA file", "default server of ..."


@dataclass(frozen=True, slots=True)
class Step:
    """One step of the path a request takes through the configuration (a finding's trace)."""

    file: str
    line: int
    label: str


@dataclass(frozen=True, slots=True)
class Edit:
    """Replace the text from (start_line, start_column) up to (end_line, end_column) with
    `text`. Lines and columns are 1-based, in characters; the end column is exclusive (SARIF's
    convention). Start == end inserts."""

    file: str
    start_line: int
    start_column: int
    end_line: int
    end_column: int
    text: str

    def overlaps(self, other: "Edit") -> bool:
        if self.file != other.file:
            return False
        a = ((self.start_line, self.start_column), (self.end_line, self.end_column))
        b = ((other.start_line, other.start_column), (other.end_line, other.end_column))
        if a[0] == a[1] and b[0] == b[1]:
            return a[0] == b[0]  # two insertions at one place: their order is unknown
        return a[0] < b[1] and b[0] < a[1] or a[0] == b[0]


SAFE, UNSAFE, DISPLAY_ONLY = "safe", "unsafe", "display-only"
APPLICABILITIES = (SAFE, UNSAFE, DISPLAY_ONLY)


@dataclass(frozen=True, slots=True)
class Fix:
    """A structured fix: `safe` cannot change what a valid client gets; `unsafe` can (for
    example `optional` -> `on` refuses visitors while Cloudflare does not send its
    certificate, or a CA path only the user knows was filled in with the conventional one);
    `display-only` is advice with no edit (where no edit closes the finding, or the edit
    could not be placed): shown in the console and JSON, never in `--diff` nor SARIF."""

    title: str
    edits: tuple[Edit, ...]
    applicability: str = SAFE

    @property
    def applies(self) -> bool:
        """Whether `--diff` and SARIF `fixes` carry it: edits, and not advice."""
        return self.applicability != DISPLAY_ONLY and bool(self.edits)


def advice(text: str) -> Fix:
    """A display-only fix: what to do, where no edit says it."""
    return Fix(text, (), DISPLAY_ONLY)


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
    related: list[Related] = field(default_factory=list)
    fixes: list[Fix] = field(default_factory=list)
    trace: list[Step] = field(default_factory=list)  # filled by request-flow rules
    column: int | None = None  # 1-based, where known
    end_column: int | None = None  # exclusive
    # The text of the responsible directive (`ssl_verify_client optional`): part of the
    # finding's stable identity, which must not move with line numbers (see identity.py).
    directive: str | None = None
    # What the finding is about beyond its rule: findings with the same cause are reported
    # once, listing every server they affect (lint.py). None: the directive's file and line.
    cause: Any = None
    servers: list[ServerRef] = field(default_factory=list)  # every affected server
    # The responsible statement (a parser.Stmt), for the engine to find its columns.
    statement: Any = field(default=None, repr=False)

    def sort_key(self) -> tuple[str, int, str, str]:
        return (self.file or "", self.line or 0, self.rule, self.message)


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """The tool's own findings about input it could not read as nginx would: a rule-shaped
    spec, with the flags the engine and the reporters read."""

    id: str
    name: str
    severity: str
    summary: str
    fix: str
    # an environment problem, not a configuration defect (a SARIF notification)
    notification: bool = False
    # a `# nginx-mtls-lint: ignore` can silence it (not the suppressions' own diagnostics)
    suppressible: bool = True
    # about the input files themselves: reported only on the files asked about when a tree
    # is loaded for some fragments' sake
    about_input: bool = False
    # part of the configuration was not read: the run says the analysis is incomplete
    leaves_gap: bool = False


DIAGNOSTICS = {
    d.id: d
    for d in (
        Diagnostic(
            "MTLS900", "parse-error", "error",
            "nginx cannot parse this file (`nginx -t` fails there); the linter analysed the "
            "statements it could read, but not a block cut off by the error.",
            "Correct the syntax; `nginx -t` shows the same error.",
            about_input=True,
        ),
        Diagnostic(
            "MTLS901", "include-not-found", "error",
            "An `include` names a file that does not exist, or (in a checkout) one outside the "
            "linted tree, which is not read unless asked for; part of the tree was not analysed.",
            "Fix the path, or map the absolute prefix onto your checkout with "
            "`--path-map /etc/nginx=DIR` (`--read-outside-tree` reads the machine's own files).",
            notification=True, about_input=True, leaves_gap=True,
        ),
        Diagnostic(
            "MTLS902", "include-cycle", "error",
            "A file includes itself (directly or through others); nginx would recurse forever.",
            "Remove the `include` that closes the cycle.",
            about_input=True,
        ),
        Diagnostic(
            "MTLS903", "non-utf8", "warning",
            "The file holds bytes that are not UTF-8; they were read as U+FFFD.",
            "Save the file as UTF-8.",
            about_input=True,
        ),
        Diagnostic(
            "MTLS904", "unreadable-file", "error",
            "A configuration file or folder could not be read (permissions, not a regular file, "
            "binary content or too large), so what it holds was not analysed.",
            "Point the linter at regular, readable nginx configuration files.",
            notification=True, about_input=True, leaves_gap=True,
        ),
        Diagnostic(
            "MTLS905", "too-deep", "error",
            "Blocks or includes nest deeper than any real configuration; the deeper part was "
            "not analysed.",
            "Flatten the nesting.",
            about_input=True,
        ),
        Diagnostic(
            "MTLS906", "suppression-without-reason", "warning",
            "A suppression comment gives no reason; reviewers cannot tell why the finding is "
            "acceptable.",
            "Add the reason after `--`: `# nginx-mtls-lint: disable=MTLS002 -- why it is safe`.",
            suppressible=False, about_input=True,
        ),
        Diagnostic(
            "MTLS907", "unused-suppression", "warning",
            "A suppression comment silences nothing; it would hide a future finding "
            "unnoticed.",
            "Remove the comment, or move it to the line of the finding it is meant for.",
            suppressible=False, about_input=True,
        ),
        Diagnostic(
            "MTLS908", "malformed-suppression", "error",
            "A `# nginx-mtls-lint:` comment does not follow the suppression grammar or names "
            "an unknown rule, so it silences nothing.",
            "Write `# nginx-mtls-lint: disable=RULE[,RULE] -- reason` (also `disable-next-line=`,"
            " `disable-file=`, `enable=`), with rule IDs or names from `nginx-mtls-lint rules`.",
            suppressible=False, about_input=True,
        ),
        Diagnostic(
            "MTLS909", "rule-crashed", "error",
            "A rule raised an exception, or a plugin failed to import: its findings for the "
            "subject it was checking (the server or listen socket named, at its file:line) are "
            "missing from this run; it still checked the other subjects, and the other rules' "
            "findings are complete.",
            "Report it to the rule's author with the traceback (set NGINX_MTLS_LINT_DEBUG=1), "
            "or turn the rule off in .nginx-mtls-lint.yaml until it is fixed.",
            notification=True,
        ),
        Diagnostic(
            "MTLS910", "path-map-inferred", "note",
            "The tree is a checkout whose absolute includes point into a standard nginx "
            "prefix (`/etc/nginx`) that the tree's own folder holds, so that prefix was mapped "
            "onto the folder, as `--path-map /etc/nginx=DIR` would.",
            "Nothing to fix when the mapping is right. Give `--path-map /etc/nginx=DIR` to map "
            "it elsewhere, or `--no-infer-paths` to turn inference off.",
            notification=True,
        ),
        Diagnostic(
            "MTLS911", "file-not-available", "note",
            "A CA or CRL file the configuration names lives on the deployed host, outside this "
            "checkout, and is not mapped: the checks that read it were skipped (reported once "
            "per file).",
            "Commit the file (CA certificates and CRLs are public) and map its folder with "
            "`--path-map /SRC=DIR`; Cloudflare's origin-pull CA can always be committed.",
            notification=True,
        ),
        Diagnostic(
            "MTLS912", "not-nginx", "note",
            "A file handed to the linter is not nginx configuration (for example redis.conf "
            "or supervisord.conf); it was skipped rather than parsed.",
            "Nothing to fix; narrow the paths you pass (or the pre-commit hook's `files:`).",
            notification=True,
        ),
        Diagnostic(
            "MTLS913", "input-not-found", "error",
            "A path given on the command line does not exist or holds no nginx "
            "configuration; the other paths were linted.",
            "Fix the path.",
            notification=True,
        ),
        Diagnostic(
            "MTLS915", "expired-suppression", "warning",
            "A suppression with a deadline (`until=YYYY-MM-DD`, a staged rollout of `optional` "
            "say) has passed it: the findings it silenced are reported again, as errors.",
            "Finish the rollout (`ssl_verify_client on`) and remove the comment, or give a "
            "new date with the reason it moved: `# nginx-mtls-lint: disable=MTLS002 "
            "until=2027-03-31 -- reason`.",
            suppressible=False, about_input=True,
        ),
        Diagnostic(
            "MTLS916", "input-not-rendered", "warning",
            "A Kubernetes manifest is a Helm template (`{{ ... }}`): what the controller renders "
            "from it depends on values the linter does not read, so it was not analysed.",
            "Render it first (`helm template RELEASE CHART -f values.yaml > rendered.yaml`) and "
            "lint the output.",
        ),
    )
}


def diagnostic(code: str, file: str | None, line: int | None, message: str) -> Finding:
    d = DIAGNOSTICS[code]
    return Finding(code, d.name, d.severity, message, file, line, None, d.fix)
