"""`inspect`: every server as nginx will run it, each value with the file:line behind it."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, TextIO

from rich.console import Group
from rich.table import Table
from rich.text import Text

from .. import __version__
from ..model import Model, Server, Setting, TlsServer
from ..analysis import Analysis
from ..trust import TrustSet
from .console import make_console
from .safe_text import printable

SETTINGS = ("ssl_verify_client", "ssl_client_certificate", "ssl_trusted_certificate",
            "ssl_reject_handshake")


def setting_dict(setting: Setting | None) -> dict | None:
    if setting is None:
        return None
    return {"value": " ".join(setting.stmt.args), "file": setting.stmt.file,
            "line": setting.stmt.line, "inherited": setting.inherited}


def server_dict(server: TlsServer) -> dict[str, Any]:
    detection = server.cloudflare
    return {
        "context": server.context,  # http or stream
        "names": [n for n in server.names if n],
        "file": server.file,
        "line": server.line,
        "config": server.tree.root,
        "sockets": [{
            "socket": listen.socket,
            "tls": listen.socket in server.tls_on,
            "default": listen.socket in server.default_on,
            "flags": [f for f in ("ssl", "default_server", "http2", "quic", "proxy_protocol")
                      if getattr(listen, f)],
            "file": listen.stmt.file,
            "line": listen.stmt.line,
        } for listen in server.listens],
        **{name: setting_dict(server.setting(name)) for name in SETTINGS},
        "cloudflare": {
            "fronted": detection.fronted,
            "signals": [asdict(s) for s in detection.signals],
            "overridden_by": asdict(detection.overridden_by) if detection.overridden_by else None,
        },
        "handlers": handler_dicts(server) if isinstance(server, Server) else [],
    }


def handler_dicts(server: Server) -> list[dict[str, Any]]:
    return [{
        "condition": " ".join(h.condition), "return": h.code, "level": "server",
        "file": h.if_stmt.file, "line": h.if_stmt.line,
    } for h in server.handlers] + [{
        "condition": " ".join(h.condition), "return": h.code,
        "level": f"location {loc.label}", "file": h.if_stmt.file, "line": h.if_stmt.line,
    } for loc in server.all_locations() for h in loc.handlers]


def client_chains(trust: TrustSet, expected: frozenset[str]) -> dict:
    """What a server's CA files make of client chains: roots, intermediates (and the root
    each chains to, or the issuer it lacks), the expected clients' chains."""
    def cert(c) -> dict:
        chain = trust.chain_names(c)
        return {"subject": c.subject, "sha256": c.sha256, "issuer": c.issuer,
                "anchored": c.sha256 in trust.anchored, "expected": c.sha256 in expected,
                "intermediates_above": trust.level.get(c.subject),
                "chains_to": chain[-1] if c.sha256 in trust.anchored else None}

    return {"roots": [cert(c) for c in trust.roots],
            "intermediates": [cert(c) for c in trust.certs if not c.self_signed]}


def render_json(model: Model, servers: list[TlsServer] | None = None,
                analysis: Analysis | None = None) -> str:
    """`analysis` (the run's, with its CA store and expected CAs) adds each server's client
    chains."""
    shown = []
    for server in (model.tls_servers if servers is None else servers):
        data = server_dict(server)
        if analysis is not None and server.client_ca_settings():
            answers = analysis.of(server)
            data["client_chains"] = client_chains(answers.trust, answers.expected_chains)
        shown.append(data)
    document = {
        "version": 1,
        "tool": {"name": "nginx-mtls-lint", "version": __version__},
        "servers": shown,
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _value(data: dict | None) -> Text:
    if data is None:
        return Text("-", style="dim")
    origin = " (http {})" if data["inherited"] else ""
    return Text.assemble(data["value"], (f"\n{data['file']}:{data['line']}{origin}", "dim"))


def _printable(data):
    """server_dict's values escaped for a terminal (see safe_text)."""
    if isinstance(data, str):
        return printable(data)
    if isinstance(data, dict):
        return {key: _printable(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_printable(value) for value in data]
    return data


def render_table(model: Model, stream: TextIO, color: str = "auto",
                 servers: list[TlsServer] | None = None) -> None:
    """One block per server, a value and its source per line: readable at 80 columns
    (long values wrap under their column) and greppable by server name."""
    console = make_console(stream, soft_wrap=False, color=color)
    if not console.is_terminal:
        console.width = 80
    servers = list(model.tls_servers if servers is None else servers)
    block: list = []

    def flush() -> None:
        with console.capture() as captured:  # cells are padded to the width: trim the lines
            console.print(Group(*block))
        stream.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))
        block.clear()

    for server in servers:
        data = _printable(server_dict(server))
        grid = Table.grid(padding=(0, 2))
        grid.add_column(width=0)  # the indent
        grid.add_column(style="bold", no_wrap=True, min_width=10)
        grid.add_column(overflow="fold")
        for s in data["sockets"]:
            tags = ", ".join(t for t, on in (("TLS", s["tls"]), ("default", s["default"])) if on)
            grid.add_row("", "listen", Text.assemble(s["socket"] + (f" [{tags}]" if tags else ""),
                                                 (f"\n{s['file']}:{s['line']}", "dim")))
        for label, key in (("verify", "ssl_verify_client"), ("client CA", "ssl_client_certificate"),
                           ("trusted CA", "ssl_trusted_certificate")):
            grid.add_row("", label, _value(data[key]))
        cf = data["cloudflare"]
        cloudflare = Text("yes" if cf["fronted"] else "no",
                          style="bold" if cf["fronted"] else "dim")
        for signal in server.cloudflare.signals:
            cloudflare.append("\n" + printable(signal.describe()), style="dim")
        if server.cloudflare.overridden_by:
            cloudflare.append("\n" + printable(server.cloudflare.overridden_by.describe()),
                              style="dim")
        grid.add_row("", "Cloudflare", cloudflare)
        handlers = Text()
        for h in data["handlers"]:
            handlers.append(f"{h['level']}: if ({h['condition']}) return {h['return']}\n")
            handlers.append(f"{h['file']}:{h['line']}\n", style="dim")
        handlers.rstrip()
        grid.add_row("", "handlers", handlers if data["handlers"] else Text("-", style="dim"))
        block += [Text.assemble((printable(server.label), "bold underline"),
                                (printable(f"  {server.file}:{server.line}"), "dim")), grid,
                  Text()]
        if len(block) >= 600:  # rich's cost is per print call: a few hundred servers at once
            flush()
    flush()
    console.print(Text(f"{len(servers)} server{'' if len(servers) == 1 else 's'}", style="dim"))
