"""`inspect`: every server as nginx will run it, each value with the file:line behind it."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TextIO

from rich.table import Table
from rich.text import Text

from .. import __version__
from ..model import Model, Server, Setting
from .console import make_console

SETTINGS = ("ssl_verify_client", "ssl_client_certificate", "ssl_trusted_certificate",
            "ssl_reject_handshake")


def setting_dict(setting: Setting | None) -> dict | None:
    if setting is None:
        return None
    return {"value": " ".join(setting.stmt.args), "file": setting.stmt.file,
            "line": setting.stmt.line, "inherited": setting.inherited}


def server_dict(server: Server) -> dict:
    detection = server.cloudflare
    return {
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
        "handlers": [{
            "condition": " ".join(h.condition), "return": h.code, "level": "server",
            "file": h.if_stmt.file, "line": h.if_stmt.line,
        } for h in server.handlers] + [{
            "condition": " ".join(h.condition), "return": h.code,
            "level": f"location {loc.label}", "file": h.if_stmt.file, "line": h.if_stmt.line,
        } for loc in server.all_locations() for h in loc.handlers],
    }


def render_json(model: Model) -> str:
    document = {
        "version": 1,
        "tool": {"name": "nginx-mtls-lint", "version": __version__},
        "servers": [server_dict(s) for s in model.servers],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _value(data: dict | None) -> Text:
    if data is None:
        return Text("-", style="dim")
    origin = " (http)" if data["inherited"] else ""
    return Text.assemble(data["value"], (f"\n{data['file']}:{data['line']}{origin}", "dim"))


def render_table(model: Model, stream: TextIO) -> None:
    console = make_console(stream, soft_wrap=False)
    table = Table(show_lines=True, title="nginx servers")
    for column in ("server", "sockets", "verify", "client CA", "trusted CA", "Cloudflare",
                   "handlers"):
        table.add_column(column, overflow="fold")
    for server in model.servers:
        data = server_dict(server)
        sockets = Text()
        for s in data["sockets"]:
            tags = ", ".join(t for t, on in (("TLS", s["tls"]), ("default", s["default"])) if on)
            sockets.append(f"{s['socket']}" + (f" [{tags}]" if tags else "") + "\n")
            sockets.append(f"{s['file']}:{s['line']}\n", style="dim")
        cf = data["cloudflare"]
        cloudflare = Text("yes" if cf["fronted"] else "no",
                          style="bold" if cf["fronted"] else "dim")
        for signal in server.cloudflare.signals:
            cloudflare.append("\n" + signal.describe(), style="dim")
        if server.cloudflare.overridden_by:
            cloudflare.append("\n" + server.cloudflare.overridden_by.describe(), style="dim")
        handlers = Text("\n".join(
            f"{h['level']}: if ({h['condition']}) return {h['return']}  {h['file']}:{h['line']}"
            for h in data["handlers"]) or "-")
        table.add_row(
            Text.assemble(server.label, (f"\n{server.file}:{server.line}", "dim")),
            sockets, _value(data["ssl_verify_client"]), _value(data["ssl_client_certificate"]),
            _value(data["ssl_trusted_certificate"]), cloudflare, handlers)
    console.print(table)
