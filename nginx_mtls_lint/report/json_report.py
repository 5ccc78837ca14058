from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, TextIO

from .. import __version__
from ..findings import Finding
from ..lint import Result
from . import ReportOptions

JSON_VERSION = 1


def finding_dict(finding: Finding) -> dict[str, Any]:
    data = {
        "rule": finding.rule,
        "name": finding.name,
        "severity": finding.severity,
        "message": finding.message,
        "file": finding.file,
        "line": finding.line,
        "column": finding.column,
        "end_column": finding.end_column,
        "server": asdict(finding.server) if finding.server else None,
        # every server the finding affects (one cause, one finding); `server` is the first
        "servers": [asdict(s) for s in finding.servers or ([finding.server] if finding.server
                                                            else [])],
        "fix": finding.fix,
        "related": [asdict(r) for r in finding.related],
        "fixes": [{"title": fix.title, "applicability": fix.applicability,
                   "edits": [asdict(e) for e in fix.edits]} for fix in finding.fixes],
        "trace": [asdict(s) for s in finding.trace],
    }
    if finding.suppressed:
        data["suppressed"] = True
        data["suppression_reason"] = finding.suppression_reason
        if "rollout" in finding.extra:  # until=: days left, who gets in meanwhile
            data["rollout"] = finding.extra["rollout"]
    return data


def summary(result: Result) -> dict:
    active = [f for f in result.findings if not f.suppressed]
    return {
        "errors": sum(f.severity == "error" for f in active),
        "warnings": sum(f.severity == "warning" for f in active),
        "notes": sum(f.severity == "note" for f in active),
        "files": len(result.workspace.files),
        "servers": sum(len(c.tls_servers) for c in result.model.configs),
    }


READ_AS = {"live": "the live system", "checkout": "a checkout", "dump": "an nginx -T dump"}


def roots(result: Result) -> list[dict]:
    """Every tree's starting file and how it was read, in load order, each once."""
    found: dict[str, str] = {}
    for tree in result.workspace.trees:
        found.setdefault(tree.root, tree.origin)
    return [{"path": path, "read_as": origin} for path, origin in found.items()]


def report(result: Result, out: TextIO, options: ReportOptions) -> None:
    write(result, out)


def write(result: Result, out: TextIO) -> None:
    """Streamed: a large report is never held in memory as one string."""
    document = {
        "version": JSON_VERSION,
        "tool": {"name": "nginx-mtls-lint", "version": __version__},
        "findings": [finding_dict(f) for f in result.findings],
        "summary": summary(result),
        "roots": roots(result),  # what was read, and whether as this machine's live nginx
        "analysis_notes": result.notes,  # what it could not see (modules, skipped checks)
    }
    if result.target is not None:
        document["target"] = result.target.as_dict()
    json.dump(document, out, indent=2, ensure_ascii=False)
    out.write("\n")
