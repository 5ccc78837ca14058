"""SARIF 2.1.0 for GitHub code scanning (see docs.github.com "SARIF support for code scanning").

One run; every rule that ran in tool.driver.rules; results with repository-relative URIs under
%SRCROOT% (the git top level, else the working directory) and a stable identity in
partialFingerprints; unreadable or missing files as tool notifications, which do not open
alerts; suppressed findings left out unless asked for; no automationDetails unless a category
is given (upload-sarif sets it from its own `category` only when the log has none).
"""

from __future__ import annotations

import json
import os
import urllib.parse
from typing import TYPE_CHECKING, Any, TextIO

from .. import RULES_URL, __version__, HOMEPAGE
from ..docs import without_markers
from ..findings import DIAGNOSTICS, Diagnostic, Finding, Fix
from ..identity import IDENTITY_KEY, base_folder, identities, relative_path
from ..lint import Result
from ..model import real_names
from . import ReportOptions

if TYPE_CHECKING:  # reporters read rules' metadata, never the rules module itself
    from ..rules import Rule

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
# Environment problems, not configuration defects: notifications rather than alerts.
NOTIFICATION_RULES = {d.id for d in DIAGNOSTICS.values() if d.notification}


def _descriptor(rule: type[Rule] | Diagnostic) -> dict:
    if isinstance(rule, Diagnostic):
        summary, body, tags = rule.summary, f"{rule.summary}\n\nFix: {rule.fix}", ["tool"]
        properties = {"tags": tags, "precision": "very-high",
                      "problem.severity": "error" if rule.severity == "error" else "warning"}
    else:
        summary, body, tags = rule.summary(), without_markers(rule.doc()), list(rule.tags)
        properties = {"tags": tags, "precision": rule.precision}
        if "security" in tags:
            properties["security-severity"] = rule.security_severity
        else:
            properties["problem.severity"] = "error" if rule.severity == "error" else "warning"
    help_uri = getattr(rule, "help_uri", None) or (
        RULES_URL + f"{rule.id}.md" if getattr(rule, "origin", "built-in") == "built-in" else None)
    descriptor = {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": summary[:1024]},
        "fullDescription": {"text": _first_paragraph(body, "## Why") or summary},
        "help": {"text": body, "markdown": body + (f"\n\n[Rule page]({help_uri})"
                                                   if help_uri else "")},
        "defaultConfiguration": {"level": rule.severity},
        "properties": properties,
    }
    if help_uri:
        descriptor["helpUri"] = help_uri
    return descriptor


def _first_paragraph(doc: str, heading: str) -> str:
    """The first paragraph under a heading, on one line, at most 1024 characters (GitHub)."""
    section = doc.split(heading, 1)[1] if heading in doc else ""
    paragraph = section.strip().split("\n\n", 1)[0]
    return " ".join(paragraph.split())[:1024]


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _uri(file: str) -> tuple[str, str | None]:
    """(uri, uriBaseId): relative to %SRCROOT% when below it, else an absolute file URI."""
    relative = relative_path(file)
    if relative is None:
        return "file://" + urllib.parse.quote(os.path.abspath(file)), None
    return urllib.parse.quote(relative), "%SRCROOT%"


def _artifact(file: str) -> dict[str, str]:
    uri, base = _uri(file)
    artifact = {"uri": uri}
    if base:
        artifact["uriBaseId"] = base
    return artifact


def _line_location(result: Result, file: str | None, line: int | None) -> dict[str, Any]:
    """A whole line (its text without the indentation) as a SARIF physicalLocation."""
    region = {"startLine": line or 1}
    source = result.workspace.source_line(file, line)
    if source and source.strip():
        region["startColumn"] = utf16_len(source) - utf16_len(source.lstrip()) + 1
        region["endColumn"] = utf16_len(source.rstrip()) + 1
    return {"physicalLocation": {"artifactLocation": _artifact(file or ""), "region": region}}


def _location(result: Result, finding: Finding) -> dict[str, Any]:
    """The responsible directive's columns where known, else its whole line."""
    location = _line_location(result, finding.file, finding.line)
    if finding.column is not None and finding.file and finding.line:
        region = location["physicalLocation"]["region"]
        region["startColumn"] = _utf16_column(result, finding.file, finding.line, finding.column)
        if finding.end_column is not None:
            region["endColumn"] = _utf16_column(result, finding.file, finding.line,
                                                finding.end_column)
    return location


def _utf16_column(result: Result, file: str, line: int, column: int) -> int:
    source = result.workspace.source_line(file, line)
    return utf16_len(source[:column - 1]) + 1 if source else column


def _fix(result: Result, fix: Fix) -> dict[str, Any]:
    by_file: dict[str, list[dict[str, Any]]] = {}
    for e in fix.edits:
        by_file.setdefault(e.file, []).append({
            "deletedRegion": {
                "startLine": e.start_line,
                "startColumn": _utf16_column(result, e.file, e.start_line, e.start_column),
                "endLine": e.end_line,
                "endColumn": _utf16_column(result, e.file, e.end_line, e.end_column)},
            "insertedContent": {"text": e.text}})
    return {"description": {"text": fix.title},
            "artifactChanges": [{"artifactLocation": _artifact(file), "replacements": changes}
                                for file, changes in by_file.items()],
            "properties": {"applicability": fix.applicability}}


def _evidence(result: Result, item: dict[str, Any], finding: Finding) -> None:
    """relatedLocations, fixes and codeFlows of a result, when the finding has them."""
    # every server one cause affects, one entry each (the console's `affects:` list)
    affected = [(s.file, s.line, "affects " + " ".join(real_names(s.names) or ["server"]))
                for s in finding.servers] if len(finding.servers) > 1 else []
    related = [(r.file, r.line, r.label) for r in finding.related] + affected
    if related:
        item["relatedLocations"] = [
            {"id": i, **_line_location(result, file, line), "message": {"text": label}}
            for i, (file, line, label) in enumerate(related, 1)]
    applied = [fix for fix in finding.fixes if fix.applies]  # advice is the help text
    if applied:
        item["fixes"] = [_fix(result, fix) for fix in applied]
    if finding.trace:
        item["codeFlows"] = [{"threadFlows": [{"locations": [
            {"location": {**_line_location(result, s.file, s.line),
                          "message": {"text": s.label}}}
            for s in finding.trace]}]}]


def report(result: Result, out: TextIO, options: ReportOptions) -> None:
    out.write(render(result, options.include_suppressed, options.sarif_category))


def render(result: Result, include_suppressed: bool = False, category: str | None = None) -> str:
    descriptors: list[type[Rule] | Diagnostic] = [*result.rules, *DIAGNOSTICS.values()]
    index = {rule.id: i for i, rule in enumerate(descriptors)}
    results, notifications = [], []
    shown = [f for f in result.findings if include_suppressed or not f.suppressed]
    fingerprints = identities(shown)
    for finding in shown:
        message = finding.message + (f"\nFix: {finding.fix}" if finding.fix else "")
        if finding.rule in NOTIFICATION_RULES:
            notifications.append({
                "descriptor": {"id": finding.rule, "index": index[finding.rule]},
                "level": finding.severity, "message": {"text": message},
                "locations": [_location(result, finding)] if finding.file else [],
            })
            continue
        item = {
            "ruleId": finding.rule,
            "ruleIndex": index[finding.rule],
            "level": finding.severity,
            "message": {"text": message},
            "locations": [_location(result, finding)],
            "partialFingerprints": {IDENTITY_KEY: fingerprints[id(finding)]},
        }
        _evidence(result, item, finding)
        if finding.suppressed:
            suppression: dict = {"kind": "inSource",
                                 "justification": finding.suppression_reason or ""}
            if "rollout" in finding.extra:  # until=: days left, who gets in meanwhile
                suppression["properties"] = {"rollout": finding.extra["rollout"]}
            item["suppressions"] = [suppression]
        results.append(item)
    root = base_folder().rstrip("/") + "/"
    run = {
        "tool": {"driver": {
            "name": "nginx-mtls-lint",
            "semanticVersion": __version__,
            "informationUri": HOMEPAGE,
            "rules": [_descriptor(rule) for rule in descriptors],
        }},
        "originalUriBaseIds": {"%SRCROOT%": {"uri": "file://" + urllib.parse.quote(root)}},
        "invocations": [{"executionSuccessful": True,
                         "toolExecutionNotifications": notifications}],
        "columnKind": "utf16CodeUnits",
        "results": results,
    }
    if category:
        run["automationDetails"] = {"id": category.rstrip("/") + "/"}
    log = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [run],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"
