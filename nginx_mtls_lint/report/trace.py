"""`nginx-mtls-lint trace`: the path a request takes through one server, directive by
directive, for each kind of client."""

from __future__ import annotations

import json
from typing import TextIO

from ..flow import MAYBE, YES, Client, Path, ServerFlow, VERIFY_VALUE
from ..model import Server

KINDS = ("none", "failed", "other-ca", "valid", "plain")


def default_kinds(server: Server) -> list[str]:
    """The clients worth showing: those the verify mode may let past the handshake, the
    valid one, and plain HTTP where the server listens without TLS."""
    kinds = ["none", "failed", "valid"]
    if server.exposed_plain_listens:
        kinds.append("plain")
    return kinds


def paths_for(server: Server, uri: str, kinds: list[str], method: str) -> list[Path]:
    flow = ServerFlow(server)
    found = []
    for kind in kinds:
        tls = kind != "plain"
        via = kind == "valid" and bool(server.cloudflare and server.cloudflare.fronted)
        client = Client(kind, VERIFY_VALUE[kind], via, method)
        found.append(Path(client, uri, flow.simulator.request(client, uri, tls)))
    return found


def _steps(path: Path) -> list[dict]:
    steps = []
    for step in path.outcome.trace:
        file, line = step.where
        steps.append({"file": file, "line": line, "note": step.label,
                      "directive": (f"{step.stmt.name} {' '.join(step.stmt.args)}".strip()
                                    if step.stmt is not None else None)})
    return steps


def as_dict(server: Server, paths: list[Path]) -> dict:
    return {
        "server": {"names": [n for n in server.names if n], "file": server.file,
                   "line": server.line, "verify": server.verification.mode},
        "results": [{
            "client": path.client.kind, "method": path.client.method, "uri": path.uri,
            "reaches_content": path.result.verdict,
            "outcome": path.outcome.kind, "status": path.outcome.status,
            "reason": path.outcome.reason or None,
            "location": path.outcome.location.label if path.outcome.location else None,
            "steps": _steps(path),
        } for path in paths],
    }


def render_json(traced: list[tuple[Server, list[Path]]], out: TextIO) -> None:
    json.dump({"version": 1, "servers": [as_dict(s, p) for s, p in traced]}, out, indent=2)
    out.write("\n")


def render_text(traced: list[tuple[Server, list[Path]]], out: TextIO) -> None:
    for server, paths in traced:
        mode = server.verification.mode
        out.write(f"{server.label} ({server.file}:{server.line}), ssl_verify_client {mode}\n")
        for path in paths:
            verdict = {YES: "CONTENT", MAYBE: "UNKNOWN"}.get(path.result.verdict, "no content")
            out.write(f"\n  {path.client.label}: {path.client.method} {path.uri} -> "
                      f"{path.outcome.describe()} [{verdict}]\n")
            for step in _steps(path):
                where = f"{step['file']}:{step['line']}" if step["file"] else ""
                out.write(f"    {where:<40} {step['note']}\n")
        out.write("\n")
