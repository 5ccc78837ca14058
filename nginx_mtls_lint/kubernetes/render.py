"""Building rendered nginx statements that point back into the manifests.

Every statement a renderer writes carries the file and line of the manifest field that caused
it (an annotation, a `tls:` host, a Secret), so every finding of every rule lands on the YAML
line a user edits. Secrets' CA data become real files in a private folder for the CA checks.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from dataclasses import dataclass, field

from ..parser import Stmt, parse_text
from .yamlnodes import Node


@dataclass(slots=True)
class Origin:
    """Where a rendered setting comes from, in the manifest's words."""

    file: str
    line: int
    field: str  # `nginx.ingress.kubernetes.io/auth-tls-verify-client: optional`
    fix: str | None = None  # the manifest edit that closes the hole, when one is known


def stmt(name: str, args: list[str], file: str, line: int,
         block: list[Stmt] | None = None) -> Stmt:
    return Stmt(name, list(args), file, line, block)


def backend(at: tuple[str, int]) -> Stmt:
    """The upstreams (services) every rendered location proxies to: a stub address."""
    return stmt("upstream", ["backend"], *at, [stmt("server", ["127.0.0.1:8181"], *at)])


def snippet(text: str, node: Node, file: str) -> tuple[list[Stmt], list[str]]:
    """An nginx snippet written in an annotation, parsed by the one nginx parser, its
    statements placed on the YAML lines that hold them. Returns (statements, errors)."""
    parsed = parse_text(text, file)
    block_scalar = node.line != node.key_line and node.key_line != 0 or "\n" in text
    offset = node.line if block_scalar else node.line - 1

    def place(stmts: list[Stmt]) -> None:
        for s in stmts:
            s.line += offset
            s.column = s.stop_line = s.stop_column = 0  # (the annotation's, not the YAML's)
            if s.block is not None:
                place(s.block)
    place(parsed.stmts)
    return parsed.stmts, [f"line {e.line}: {e.message}" for e in parsed.errors]


def to_text(stmts: list[Stmt], indent: int = 0) -> str:
    """The rendering as nginx configuration text (for `nginx -t` and related information)."""
    out = []
    pad = "    " * indent
    for s in stmts:
        if s.name == "#":
            out.append(f"{pad}#{s.args[0]}\n")
            continue
        args = [_quote(a) for a in s.args]
        if s.name == "if" and args:
            args[0], args[-1] = "(" + args[0], args[-1] + ")"
        words = " ".join([_quote(s.name) if not s.name else s.name, *args])
        if s.block is None:
            out.append(f"{pad}{words};\n")
        else:
            out.append(f"{pad}{words} {{\n{to_text(s.block, indent + 1)}{pad}}}\n")
    return "".join(out)


def _quote(arg: str) -> str:
    if arg == "" or any(c in arg for c in " \t\n;{}\"'#") and not arg.startswith("("):
        return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return arg


@dataclass(slots=True)
class FileStore:
    """Rendered file paths (`/etc/ingress-controller/ssl/ca-ns-name.pem`) -> local copies of
    the Secret data they are made of; paths whose Secret is not in the input are "not
    available here"."""

    files: dict[str, str] = field(default_factory=dict)
    absent: set[str] = field(default_factory=set)
    folder: str | None = None

    def add(self, path: str, data: bytes) -> None:
        if self.folder is None:
            self.folder = tempfile.mkdtemp(prefix="nginx-mtls-lint-k8s-")
            atexit.register(shutil.rmtree, self.folder, True)
        local = os.path.join(self.folder, f"{len(self.files)}-{os.path.basename(path)}")
        with open(local, "wb") as f:
            f.write(data)
        self.files[path] = local

    def resolve(self, path: str) -> str:
        return self.files.get(path, path)

    def elsewhere(self, path: str) -> bool:
        return path in self.absent or path not in self.files
