"""Fixes shared by several rules: as text, and as edits (structured fixes)."""

from __future__ import annotations

from typing import Callable, Optional

from ..findings import SAFE, UNSAFE, Edit, Fix
from ..model import Server
from ..parser import Span, Stmt, locate

# (file, line) -> that line's text: RuleContext.source
Source = Optional[Callable[[Optional[str], Optional[int]], Optional[str]]]

AOP_CA_PATH = "/etc/nginx/certs/origin-pull-ca.pem"
ENFORCE_AOP = (
    f"ssl_client_certificate {AOP_CA_PATH};  # Cloudflare origin-pull CA\n"
    "ssl_verify_client on;"
)
AOP_CA_SOURCE = (
    "Cloudflare's origin-pull CA is published at "
    "https://developers.cloudflare.com/ssl/static/authenticated_origin_pull_ca.pem "
    "(SHA-256 9A:1A:C2:B4:...:A2:B9)."
)
SERVER_HANDLER = "if ($ssl_client_verify != SUCCESS) { return 403; }"
# id(config) -> (config, the origin-pull CA path it names): found once per configuration
_NAMED_AOP_PATHS: dict[int, tuple[object, str]] = {}


def aop_ca_path(ctx, server) -> str:
    """The path the configuration already names for Cloudflare's origin-pull CA (a client CA
    file that holds it, else the one most servers name that is named for it), so that a fix
    adds no second path for one CA (two paths read as two CAs: MTLS105); else the
    conventional AOP_CA_PATH."""
    from ..cloudflare import AOP_CA, CA_FILE_NAME

    config = server.config
    found = _NAMED_AOP_PATHS.get(id(config))
    if found is not None and found[0] is config:
        return found[1]
    holding: dict[str, int] = {}
    named: dict[str, int] = {}
    for each in config.tls_servers:
        for _, setting in each.client_ca_settings():
            if AOP_CA in ctx.ca_file(each, setting).fingerprints:
                holding[setting.value] = holding.get(setting.value, 0) + 1
            elif CA_FILE_NAME.search(setting.value.rsplit("/", 1)[-1]):
                named[setting.value] = named.get(setting.value, 0) + 1
    counts = holding or named
    path = max(counts, key=lambda p: counts[p]) if counts else AOP_CA_PATH
    _NAMED_AOP_PATHS[id(config)] = (config, path)
    return path


# --------------------------------------------------------------------------- structured fixes
# Rules speak in statements; these builders turn them into edits with columns, reading the
# statement's lines through ctx.source (the reporters' reader: each file read once). A builder
# returns None when the text does not show the statement as parsed; a fix with such an edit is
# left out rather than guessed.

CONVENTIONAL_PATH_NOTE = (f" (uses the conventional path {AOP_CA_PATH}: put Cloudflare's "
                          "origin-pull CA there, or change the path)")


def _spans(source: Source, stmt: Stmt) -> list[Span] | None:
    if source is None:
        return None
    return locate(stmt, lambda number: source(stmt.file, number))


def _indent(line: str) -> str:
    return line[:len(line) - len(line.lstrip())]


def replace_word(source: Source, stmt: Stmt, index: int, text: str) -> Edit | None:
    """Replace the statement's name (index 0) or its argument `index`."""
    spans = _spans(source, stmt)
    if spans is None or index >= len(spans) - 1:
        return None
    s = spans[index]
    return Edit(stmt.file, s.line, s.column, s.end_line, s.end_column, text)


def replace_statement(source: Source, stmt: Stmt, text: str) -> Edit | None:
    """Replace the whole statement, from its name to its `;`."""
    spans = _spans(source, stmt)
    if spans is None or stmt.block is not None:
        return None
    first, last = spans[0], spans[-1]
    return Edit(stmt.file, first.line, first.column, last.end_line, last.end_column, text)


def delete_statement(source: Source, stmt: Stmt) -> Edit | None:
    """Remove a statement; its whole line when nothing else but a comment is written on it."""
    spans = _spans(source, stmt)
    if spans is None or stmt.block is not None:
        return None
    assert source is not None
    first, last = spans[0], spans[-1]
    line = source(stmt.file, first.line) or ""
    rest = line[last.end_column - 1:].strip()
    if first.line == last.end_line and not line[:first.column - 1].strip() and (
            not rest or rest.startswith("#")):  # alone on its line (a comment about it goes too)
        return Edit(stmt.file, first.line, 1, first.line + 1, 1, "")
    return Edit(stmt.file, first.line, first.column, last.end_line, last.end_column, "")


def insert_after(source: Source, stmt: Stmt, text: str) -> Edit | None:
    """Insert lines after the line that ends the statement (after its `{` for a block, so
    the text goes inside it), indented like the statement (one level deeper in a block)."""
    spans = _spans(source, stmt)
    if spans is None:
        return None
    assert source is not None
    end = spans[-1]
    line = source(stmt.file, end.line) or ""
    rest = line[end.end_column - 1:].strip()
    if rest and not rest.startswith("#"):  # more statements follow on this line: stay on it
        return Edit(stmt.file, end.line, end.end_column, end.line, end.end_column,
                    " " + " ".join(text.split("\n")))
    indent = _indent(source(stmt.file, stmt.line) or "")
    if stmt.block is not None:
        indent += "    "
    lines = "".join("\n" + indent + part for part in text.split("\n"))
    return Edit(stmt.file, end.line, len(line) + 1, end.line, len(line) + 1, lines)


def insert_before(source: Source, stmt: Stmt, text: str) -> Edit | None:
    """Insert lines before the line the statement starts on, indented like it."""
    spans = _spans(source, stmt)
    if spans is None:
        return None
    assert source is not None
    line = source(stmt.file, stmt.line) or ""
    if line[:spans[0].column - 1].strip():
        return None  # something else is written before it on its line
    indent = _indent(line)
    lines = "".join(indent + part + "\n" for part in text.split("\n"))
    return Edit(stmt.file, stmt.line, 1, stmt.line, 1, lines)


def append_word(source: Source, stmt: Stmt, text: str) -> Edit | None:
    """Add an argument at the end of a statement (before its `;`)."""
    spans = _spans(source, stmt)
    if spans is None or len(spans) < 2:
        return None
    last = spans[-2]
    return Edit(stmt.file, last.end_line, last.end_column, last.end_line, last.end_column,
                " " + text)


def remove_word(source: Source, stmt: Stmt, index: int) -> Edit | None:
    """Remove argument `index` (1 is the first argument) and the blank before it."""
    spans = _spans(source, stmt)
    if spans is None or not 1 <= index < len(spans) - 1:
        return None
    before, word = spans[index - 1], spans[index]
    return Edit(stmt.file, before.end_line, before.end_column, word.end_line, word.end_column,
                "")


def make_fix(title: str, *edits: Edit | None, unsafe: bool = False) -> list[Fix]:
    """[Fix] when every edit could be placed, else []. A fix that writes the conventional CA
    path is unsafe (only the user knows where the CA is) and its title says so."""
    if not edits or any(e is None for e in edits):
        return []
    placed = tuple(e for e in edits if e is not None)
    if any(AOP_CA_PATH in e.text for e in placed):
        unsafe, title = True, title + CONVENTIONAL_PATH_NOTE
    return [Fix(title, placed, UNSAFE if unsafe else SAFE)]


def server_handler_fix(source: Source, server: Server) -> list[Fix]:
    """The server-level `$ssl_client_verify` handler, after the server's own
    `ssl_verify_client` (else first in the server block)."""
    own = server.scope.first("ssl_verify_client")
    edit = insert_after(source, own if own is not None else server.stmt, SERVER_HANDLER)
    return make_fix("reject clients without a valid certificate at server level (refuses "
                    "visitors while Cloudflare does not send its certificate)", edit,
                    unsafe=True)


def without_codes(source: Source, stmt: Stmt, codes: set[str]) -> Edit | None:
    """An `error_page` without some of its codes: deleted when none is left."""
    kept = [a for a in stmt.args[:-1] if a not in codes]
    if not any(a.isdigit() for a in kept):
        return delete_statement(source, stmt)
    return replace_statement(source, stmt, " ".join(["error_page", *kept, stmt.args[-1]]) + ";")


# listen parameters a second server on the same address:port may repeat; anything else (bind
# options such as backlog= or reuseport) may be given once per address:port only.
REPEATABLE_LISTEN_FLAGS = ("ssl", "http2", "proxy_protocol")


def reject_handshake_default(source: Source, default_stmt: Stmt,
                             *listen_stmts: Stmt) -> list[Fix]:
    """A new default server for the sockets of `listen_stmts` (one address family, or both
    of one port) that ends handshakes without a known name, inserted before the current
    default server (whose listens lose `default_server`)."""
    listens, edits = [], []
    for listen_stmt in listen_stmts:
        args = listen_stmt.args
        flags = [a for a in args[1:] if a not in ("default_server", "default")]
        if not args or any(f not in REPEATABLE_LISTEN_FLAGS for f in flags):
            return []
        flags = list(dict.fromkeys(["ssl", *flags]))
        listens.append(f"    listen {args[0]} {' '.join(flags)} default_server;\n")
        edits += [remove_word(source, listen_stmt, i) for i, a in enumerate(args, 1)
                  if a in ("default_server", "default") and i > 1]
    block = f"server {{\n{''.join(listens)}    ssl_reject_handshake on;\n}}"
    edits.insert(0, insert_before(source, default_stmt, block))
    return make_fix("a default server that refuses handshakes without a known name (clients "
                    "that send no SNI, or an unknown name, are refused)", *edits, unsafe=True)
