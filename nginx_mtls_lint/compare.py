"""`compare OLD NEW`: per host, port and path, which kinds of client get content, before and
after a change (a migration from ingress-nginx to Gateway API, manifests against the `nginx -T`
of what runs, two nginx trees). A cell that goes from refused to open, or to "cannot prove",
is a weakening: exit 1.

Each side is analysed as `lint` analyses it; each cell is one request the flow simulates
(analysis.ServerAnalysis.request: the same clients as `trace`), sent to the server nginx would pick for
the host on that port (the one naming it, else the port's default server).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, TextIO

from .analysis import MAYBE, YES, Analysis, Path
from .model import Model, Server, Socket, name_keys

TLS_KINDS = ("none", "failed", "other-ca", "valid")
RANK = {"refused": 0, "cannot prove": 1, "open": 2}
MAX_URIS = 20  # paths per server: the locations' literal prefixes, the first ones


@dataclass(frozen=True, slots=True, order=True)
class Cell:
    host: str
    port: str
    uri: str
    client: str


@dataclass(slots=True)
class Answer:
    verdict: str  # refused | open | cannot prove
    server: str  # where: "file:line" of the server block, or "no listener"
    steps: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Change:
    cell: Cell
    old: Answer
    new: Answer

    @property
    def weakens(self) -> bool:
        return self.cell.client != "valid" and RANK[self.new.verdict] > RANK[self.old.verdict]


def sockets_by_port(model: Model) -> dict[str, list[Socket[Server]]]:
    found: dict[str, list[Socket[Server]]] = {}
    for config in model.configs:
        for name, socket in config.sockets.items():
            if not name.startswith("unix:"):
                found.setdefault(name.rsplit(":", 1)[-1], []).append(socket)
    return found


def literal_uris(server: Server) -> list[str]:
    uris = ["/"]
    for stmt in server.stmt.block or []:
        if stmt.name == "location" and stmt.args and stmt.args[0] in ("=", "^~") and \
                len(stmt.args) > 1:
            uris.append(stmt.args[1])
        elif stmt.name == "location" and stmt.args and stmt.args[0].startswith("/"):
            uris.append(stmt.args[0])
    return list(dict.fromkeys(uris))[:MAX_URIS]


def cells_of(model: Model) -> Iterator[Cell]:
    for port, sockets in sockets_by_port(model).items():
        for socket in sockets:
            for server in socket.servers:
                hosts = [n for n in server.names if n and n != "_"]
                kinds = TLS_KINDS if socket.tls else ("plain",)
                for host in hosts:
                    for uri in literal_uris(server):
                        for kind in kinds:
                            yield Cell(host.lower(), port, uri, kind)


def pick(socket: Socket[Server], host: str) -> Server:
    for key in name_keys(host):
        found = socket.answering(key)
        if found is not None:
            return found
    for server in socket.servers:  # a regex server_name written as such
        if host in server.names:
            return server
    return socket.default


def answer(model: Model, cell: Cell, cache: dict[tuple[int, str, str], "Answer"],
           analysis: Analysis | None = None) -> Answer:
    """The worst answer over the sockets of the port (IPv4 and IPv6 listeners), as the
    run's analysis simulates it."""
    analysis = analysis or Analysis()
    sockets = [s for s in sockets_by_port(model).get(cell.port, [])
               if s.tls == (cell.client != "plain")]
    if not sockets:
        return Answer("refused", "no listener")
    worst: Answer | None = None
    for socket in sockets:
        server = pick(socket, cell.host)
        key = (id(server), cell.uri, cell.client)
        if key not in cache:
            path = analysis.of(server).request(cell.uri, cell.client)
            cache[key] = _answer(server, path)
        found = cache[key]
        if worst is None or RANK[found.verdict] > RANK[worst.verdict]:
            worst = found
    assert worst is not None
    return worst


def _answer(server: Server, path: Path) -> Answer:
    verdict = {YES: "open", MAYBE: "cannot prove"}.get(path.result.verdict, "refused")
    steps = [f"{step.where[0]}:{step.where[1]}  {step.label}" for step in path.outcome.trace]
    return Answer(verdict, f"{server.file}:{server.line}",
                  [f"-> {path.outcome.describe()}", *steps])


def compare(old: Model, new: Model, analyses: tuple[Analysis, Analysis] | None = None
            ) -> tuple[list[Change], int]:
    """Every cell whose answer differs, and how many cells were compared (each side read
    with its run's analysis)."""
    old_analysis, new_analysis = analyses or (Analysis(), Analysis())
    cells = sorted(set(cells_of(old)) | set(cells_of(new)))
    cached_old: dict[tuple[int, str, str], Answer] = {}
    cached_new: dict[tuple[int, str, str], Answer] = {}
    changes = []
    for cell in cells:
        before = answer(old, cell, cached_old, old_analysis)
        after = answer(new, cell, cached_new, new_analysis)
        if before.verdict != after.verdict:
            changes.append(Change(cell, before, after))
    return changes, len(cells)


def render_text(changes: list[Change], compared: int, out: TextIO) -> None:
    weakened = [c for c in changes if c.weakens]
    for change in changes:
        cell = change.cell
        mark = "WEAKER" if change.weakens else "changed"
        client = "plain HTTP" if cell.client == "plain" else f"client {cell.client}"
        out.write(f"{mark}: {cell.host}:{cell.port} {cell.uri} ({client}): "
                  f"{change.old.verdict} -> {change.new.verdict}\n")
        for side, found in (("old", change.old), ("new", change.new)):
            out.write(f"  {side}: {found.server}\n")
            for step in found.steps:
                out.write(f"      {step}\n")
    out.write(f"{compared} cells compared (host, port, path, client); {len(changes)} changed, "
              f"{len(weakened)} weaker\n")


def to_json(changes: list[Change], compared: int) -> dict[str, Any]:
    return {"compared": compared, "weaker": sum(c.weakens for c in changes), "changes": [
        {"host": c.cell.host, "port": c.cell.port, "uri": c.cell.uri, "client": c.cell.client,
         "weakens": c.weakens,
         "old": {"verdict": c.old.verdict, "server": c.old.server, "trace": c.old.steps},
         "new": {"verdict": c.new.verdict, "server": c.new.server, "trace": c.new.steps}}
        for c in changes]}


__all__ = ["compare", "render_text", "to_json", "Cell", "Change"]
