"""`nginx-mtls-lint trace`: the path a request takes through one server, directive by
directive, for each kind of client."""

from __future__ import annotations

import json
from typing import Any, TextIO

from ..analysis import MAYBE, YES, Path
from ..model import Server
from .safe_text import printable
from .wrap import hang_plain, terminal_width


def _steps(path: Path) -> list[dict[str, Any]]:
    steps = []
    for step in path.outcome.trace:
        file, line = step.where
        steps.append({"file": file, "line": line, "note": step.label,
                      "directive": (f"{step.stmt.name} {' '.join(step.stmt.args)}".strip()
                                    if step.stmt is not None else None)})
    return steps


def as_dict(server: Server, paths: list[Path]) -> dict[str, Any]:
    return {
        "server": {"names": [n for n in server.names if n], "file": server.file,
                   "line": server.line, "verify": server.verification.mode},
        "results": [{
            "client": path.client.kind, "method": path.client.method, "uri": path.uri,
            "via_cloudflare": path.client.via_cloudflare,
            "reaches_content": path.result.verdict,
            "outcome": path.outcome.kind, "status": path.outcome.status,
            "reason": path.outcome.reason or None,
            "cannot_prove": path.outcome.limit,
            "location": path.outcome.location.label if path.outcome.location else None,
            "steps": _steps(path),
        } for path in paths],
    }


def render_json(traced: list[tuple[Server, list[Path]]], out: TextIO) -> None:
    json.dump({"version": 1, "servers": [as_dict(s, p) for s, p in traced]}, out, indent=2)
    out.write("\n")


def render_text(traced: list[tuple[Server, list[Path]]], out: TextIO) -> None:
    width = terminal_width(out)  # a terminal: folded with a hanging indent

    def say(line: str, indent: int) -> None:
        # names, files and notes come from the input: escaped before folding
        out.write(hang_plain(printable(line), indent, width) + "\n")

    for server, paths in traced:
        mode = server.verification.mode
        say(f"{server.label} ({server.file}:{server.line}), ssl_verify_client {mode}", 2)
        for path in paths:
            verdict = {YES: "CONTENT", MAYBE: "CANNOT PROVE" if path.outcome.limit else
                       "UNKNOWN"}.get(path.result.verdict, "no content")
            out.write("\n")
            say(f"  {path.client.label}: {path.client.method} {path.uri} -> "
                f"{path.outcome.describe()} [{verdict}]", 4)
            for step in _steps(path):
                where = f"{step['file']}:{step['line']}" if step["file"] else ""
                say(f"    {where:<40} {step['note']}", 45 if len(where) <= 40 else 8)
            if path.outcome.limit:
                say(f"    not decided: {path.outcome.reason}", 8)
        out.write("\n")
