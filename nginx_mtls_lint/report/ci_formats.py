"""CI annotations: GitHub workflow commands and GitLab Code Quality reports."""

from __future__ import annotations

import hashlib
import json
from typing import TextIO

from ..findings import Finding
from ..identity import identities, relative_path
from ..lint import Result
from . import ReportOptions
from .safe_text import printable, printable_lines

GITHUB_LEVEL = {"error": "error", "warning": "warning", "note": "notice"}
GITLAB_SEVERITY = {"error": "major", "warning": "minor", "note": "info"}


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _related_lines(finding: Finding, from_root: bool = False) -> str:
    """The related locations, one per line (the message names none), with paths as the
    format gives its own location's."""
    return "".join(f"\nRelated: {r.label} "
                   f"({relative_path(r.file) or r.file if from_root else r.file}:{r.line})"
                   for r in finding.related)


def report_github(result: Result, out: TextIO, options: ReportOptions) -> None:
    out.write(render_github(result))


def report_gitlab(result: Result, out: TextIO, options: ReportOptions) -> None:
    out.write(render_gitlab(result))


def render_github(result: Result) -> str:
    """`::error file=F,line=L,title=T::message` lines, read by GitHub Actions' runner."""
    lines = []
    for f in result.findings:
        if f.suppressed:
            continue
        props = [f"file={_escape_property(printable(f.file))}"] if f.file else []
        if f.line:
            props.append(f"line={f.line}")
        props.append(f"title={_escape_property(f'{f.rule} {f.name}')}")
        message = printable_lines(f.message + _related_lines(f) +
                                  (f"\nFix: {f.fix}" if f.fix else ""))
        lines.append(f"::{GITHUB_LEVEL[f.severity]} {','.join(props)}::{_escape_data(message)}")
    return "".join(line + "\n" for line in lines)


def render_gitlab(result: Result) -> str:
    """A GitLab Code Quality report: a JSON array of issues."""
    issues = []
    shown = [f for f in result.findings if not f.suppressed]
    fingerprints = identities(shown)
    for f in shown:
        issues.append({
            "description": f"{f.rule} {f.message}",
            "check_name": f"{f.rule} {f.name}",
            # the stable identity, hashed again: GitLab wants one hex string per issue
            "fingerprint": hashlib.sha256(fingerprints[id(f)].encode()).hexdigest(),
            "severity": GITLAB_SEVERITY[f.severity],
            **({"content": {"body": printable_lines(_related_lines(f, True).lstrip("\n"))}}
               if f.related else {}),
            "location": {"path": relative_path(f.file) or f.file if f.file else "",
                         "lines": {"begin": f.line or 1}},
        })
    return json.dumps(issues, indent=2, ensure_ascii=False) + "\n"
