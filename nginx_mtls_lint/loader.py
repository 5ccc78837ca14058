"""Read nginx trees the way nginx does: files, includes, prefix, path map, dumps, fragments.

The loader turns inputs (an nginx.conf, a directory, a fragment, an `nginx -T` dump) into
`Tree`s: statement lists in which every `include` carries the statements it pulled in. It
knows nothing of servers or rules; problems with the input become MTLS9xx findings.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from .directives import FREE_FORM_BLOCKS
from .findings import Finding, Related, diagnostic
from .discovery import CheckoutIndex
from .paths import DEFAULT_ROOT, once_per_inference, absolute, map_path, normal_path, windows_path  # noqa: F401
from .paths import inside as inside  # (importable from here, as before)
from .parser import Stmt, parse_text
from .reading import DiskFiles, ReadResult, not_nginx, static_part, unlisted_folders
from .errors import UsageError as UsageError  # importable from here, as before
from .reading import (  # importable from here, as before
    MAX_CONFIG_BYTES as MAX_CONFIG_BYTES,
    display_path as display_path, read_limited as read_limited,
    read_user_file as read_user_file)

# nginx sets no limit; no real tree nests includes this deep, and a cap keeps hostile chains
# (or a cycle spelled through endless distinct paths) finite.
MAX_INCLUDE_DEPTH = 32
# Where nginx packages keep their configuration. An absolute include under one of these, in a
# tree that lives elsewhere (a repository checkout), means the host's files, not the tree's:
# reading them would silently lint whatever the machine running the linter has installed.
NGINX_PREFIXES = ("/etc/nginx", "/usr/local/nginx/conf", "/usr/local/etc/nginx",
                  "/opt/nginx/conf")
# Where a configuration repository's absolute includes usually point: the prefixes above, and
# those of common images (linuxserver's /config/nginx, OpenResty, Homebrew). In a checkout,
# one whose included paths the tree's folder holds is mapped onto it.
INFER_PREFIXES = NGINX_PREFIXES + ("/config/nginx", "/usr/local/openresty/nginx/conf",
                                   "/opt/homebrew/etc/nginx")
# Files the nginx package ships beside nginx.conf. Missing from a checkout they cannot change a
# verdict (MIME types, FastCGI parameters, charsets, the snakeoil certificate): no finding.
STOCK_FILES = {
    "mime.types", "fastcgi_params", "fastcgi.conf", "scgi_params", "uwsgi_params", "koi-utf",
    "koi-win", "win-utf", "snippets/fastcgi-php.conf", "snippets/snakeoil.conf",
}
MODULES_DIR = "modules-enabled/"  # Debian's dynamic modules (stream, ...) are loaded from here
# A main configuration (rather than a fragment of server blocks) opens one of these blocks.
MAIN_BLOCK = re.compile(r"^[ \t]*(?:http|events|stream|mail)\s*\{", re.MULTILINE)
DUMP_MARKER = re.compile(r"^# configuration file (.+):\r?$")


@dataclass(slots=True)
class LoadOptions:
    prefix: str | None = None
    path_map: list[tuple[str, str]] = field(default_factory=list)
    infer_paths: bool = True  # in a checkout, map a standard prefix onto the tree that holds it
    roots: list[str] | None = None  # where to look for the tree a fragment belongs to
    discover_roots: bool = True  # lint a fragment inside the tree that includes it
    # More files that are nginx configuration, as shell globs on the path below a folder
    # given, or on the name (`*.nginx`, `api/*.vhost`): --extend-include, extend-include:.
    extend_include: list[str] = field(default_factory=list)
    # In a checkout, read includes outside the tree's folder (--read-outside-tree): only the
    # command line sets it, since a configuration file is part of the checkout it guards.
    read_outside: bool = False
    # Kubernetes: what the manifests may not say (--ingress-configmap, --ingress-class)
    ingress_configmap: str | None = None
    ingress_classes: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Tree:
    """One configuration as nginx would load it."""

    root: str  # display path of the file the tree starts at
    context: str  # "main" (an nginx.conf) or "http" (a fragment of bare server blocks)
    stmts: list[Stmt]
    prefix: str
    resolve: Callable[[str], str]  # a path as written in the config -> the file to read
    # Set when the tree was loaded for the sake of some fragments (pre-commit's changed
    # files): only findings in these files, or in servers they define, are reported.
    focus: set[str] | None = None
    reached: set[str] = field(default_factory=set)  # real paths of every file it loaded
    # A path as written -> whether it names a file of the deployed host that this checkout
    # does not have (absolute, outside the tree, not --path-map'ed): "not available here".
    elsewhere: Callable[[str], bool] = lambda arg: False
    origin: str = "checkout"  # how it was read: "live" (this machine's), "checkout", "dump"


@dataclass(slots=True)
class Workspace:
    trees: list[Tree] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    files: set[str] = field(default_factory=set)  # display paths of every file read
    dump_texts: dict[str, str] = field(default_factory=dict)  # files that came from `nginx -T`
    dump_preamble: str = ""  # a dump's lines before its first file (`nginx -V` output)
    # Each file's own statements (its includes not expanded into blocks): for suppressions.
    file_stmts: dict[str, list[Stmt]] = field(default_factory=dict)
    source_lines: dict[str, list[str]] = field(default_factory=dict)  # read when first shown
    notes: dict[str, None] = field(default_factory=dict)  # summary lines, each once, in order
    kubernetes: Any = None  # kubernetes.Inputs: the manifests read and what they rendered
    # Files read that are not nginx configuration (an included .env or /etc/passwd): their
    # text is never shown, whatever the output format.
    opaque: set[str] = field(default_factory=set)

    def source_line(self, file: str | None, line: int | None) -> str | None:
        """The text of one configuration line, for reporters (each file read once)."""
        if not file or not line or file in self.opaque:
            return None
        lines = self.source_lines.get(file)
        if lines is None:
            text = self.dump_texts.get(file)
            if text is None:
                data, _, _ = read_limited(file, MAX_CONFIG_BYTES)
                text = data.decode("utf-8", errors="replace") if data is not None else ""
            lines = self.source_lines[file] = text.split("\n")
        return lines[line - 1].rstrip("\r") if 0 < line <= len(lines) else None


MAX_LINK_HOPS = 40  # as Linux's own limit on symbolic links in one lookup


def live_tree(path: str) -> bool:
    """A tree under a standard nginx prefix of this machine is the live system; every other
    tree is a checkout (a repository, a copy)."""
    real = os.path.realpath(path)
    return any(inside(os.path.realpath(p), real) for p in NGINX_PREFIXES if os.path.isdir(p))


def stock_file(arg: str) -> bool:
    """`include mime.types;`, `/etc/nginx/fastcgi_params`, `modules-enabled/*.conf`: a file of
    the nginx package rather than of the configuration."""
    if windows_path(arg):
        parts = normal_path(arg).split("/")
        return any("/".join(parts[-n:]) in STOCK_FILES for n in (1, 2))
    rest = os.path.normpath(arg)
    if os.path.isabs(arg):
        base = next((p for p in INFER_PREFIXES if inside(p, rest)), None)
        if base is None:
            return False
        rest = rest[len(base):].lstrip("/")
    return rest in STOCK_FILES or rest.startswith(MODULES_DIR)


class DumpFiles:
    """The files of an `nginx -T` dump, by the absolute path nginx printed for each."""

    def __init__(self, files: dict[str, str]):
        self.files = files

    def read(self, path: str) -> ReadResult:
        path = os.path.normpath(path)
        if path not in self.files:
            return ReadResult(None, missing=True)
        return ReadResult(self.files[path])

    def glob(self, pattern: str) -> list[str]:
        pattern = os.path.normpath(pattern)
        return sorted(p for p in self.files if fnmatch.fnmatchcase(p, pattern)
                      and p.count("/") == pattern.count("/"))

    def realpath(self, path: str) -> str:
        return os.path.normpath(path)

    def display(self, path: str) -> str:
        return os.path.normpath(path)

    display_real = display


def split_dump(text: str) -> dict[str, str]:
    """Split `nginx -T` output on its `# configuration file PATH:` markers.

    nginx writes each file's bytes right after its marker line and adds a newline when the
    file does not end with one; the lines before the first marker are nginx's own messages.
    """
    files: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines(keepends=True):
        match = DUMP_MARKER.match(line.rstrip("\n"))
        if match:
            current = files.setdefault(os.path.normpath(match.group(1)), [])
            current.clear()
            continue
        if current is not None:
            current.append(line)
    return {path: "".join(lines) for path, lines in files.items()}


# --------------------------------------------------------------------------- include expansion

class Loader:
    """Parses files once each and expands `include` as nginx does, for one prefix."""

    def __init__(self, files: DiskFiles | DumpFiles, options: LoadOptions, prefix: str,
                 workspace: Workspace, map_includes: bool = True, checkout: bool = False,
                 index: CheckoutIndex | None = None):
        self.files = files
        self.index = index  # the checkout's files, for a file kept under another folder
        self.options = options
        self.prefix = prefix
        self.workspace = workspace
        self.map_includes = map_includes
        self.checkout = checkout  # a repository or copy, not this machine's live nginx
        self.inferred: list[tuple[str, str]] = []  # standard prefix -> this tree's folder
        # Absolute targets of links in the checkout that lead out of it unmapped -> the link.
        self.escapes: dict[str, str] = {}
        # One MTLS901 per missing file: the file -> its finding (later includes are related).
        self.missing_files: dict[str, Finding] = {}
        self.expanded: dict[str, list[Stmt]] = {}
        self.realpaths: dict[str, str] = {}  # path as resolved -> real path
        self.in_progress: list[str] = []
        # Real paths of every file a file pulls in (itself included), for finding the tree a
        # fragment belongs to; `collecting` holds the sets of the loads still in progress.
        self.closures: dict[str, set[str]] = {}
        self.collecting: list[set[str]] = []
        self._real_roots: dict[tuple[str, ...], list[str]] = {}
        self.data_includes: set[int] = set()  # includes inside map, geo, types, ... blocks

    def report(self, code: str, file: str | None, line: int | None, message: str,
               related: list[Related] | None = None) -> None:
        finding = diagnostic(code, file, line, message)
        finding.related = related or []
        self.workspace.findings.append(finding)

    @once_per_inference
    def resolve(self, arg: str) -> str:
        """A path as written (include, certificate) -> the path to read, links followed."""
        path = normal_path(arg) if absolute(arg) else os.path.join(self.prefix, arg)
        return self.follow(self.mapped(path))

    def resolve_file(self, arg: str) -> str:
        """A file a directive names (a CA, a CRL, a certificate): resolve(), and in a checkout
        that does not hold it there, the one file it keeps under another folder (inferred
        whichever check asks first, so that no check sees it missing and another found)."""
        path = self.resolve(arg)
        if self.checkout and absolute(arg) and path not in self.escapes and \
                not os.path.lexists(path) and self.infer_file(normal_path(arg), None, ca=True):
            return self.resolve(arg)
        return path

    def mapped(self, path: str) -> str:
        """--path-map first, then the mappings inferred for this tree."""
        if not self.map_includes:
            return path
        found = map_path(path, self.options.path_map)
        if found != path:
            return found
        inferred = map_path(os.path.normpath(path), self.inferred)  # files are kept normal
        return path if inferred == os.path.normpath(path) else inferred

    @once_per_inference
    def elsewhere(self, arg: str) -> bool:
        """A deployed-host path this checkout lacks: absolute, outside the tree, not --path-map
        mapped (an inferred mapping counts), not here; or reached through a link leaving it."""
        if not self.checkout or not absolute(arg):
            return False
        path = self.resolve(arg)
        if path in self.escapes:
            return True
        if windows_path(arg):
            away = path == normal_path(arg)
        elif map_path(arg, self.options.path_map) != arg:
            return False
        else:
            away = not inside(os.path.realpath(self.prefix), os.path.realpath(arg)) and \
                not os.path.lexists(path)
        return away and not self.infer_file(normal_path(arg), None, ca=True)

    def roots(self) -> list[str]:
        """The folders of this checkout: the prefix and every folder mapped onto."""
        return [self.prefix, *(os.path.abspath(dst) for _, dst in self.options.path_map),
                *(dst for _, dst in self.inferred)]

    def follow(self, path: str, hops: int = 0) -> str:
        """`path` with the symbolic links inside the checkout resolved as the deployed host
        would: an absolute link target goes through the mapping (a committed
        `sites-enabled/x -> /etc/nginx/sites-available/x`); one that leaves the checkout
        unmapped is recorded in `escapes` and returned as is, never read on this machine."""
        if not self.checkout or not isinstance(self.files, DiskFiles) or windows_path(path):
            return path
        full = os.path.abspath(path)
        for root in self.roots():
            real_root = os.path.realpath(root)
            base = root if inside(root, full) else real_root if inside(real_root, full) \
                else None
            if base is not None:
                parts = full[len(base):].split("/")
                if not any(os.path.islink(os.path.join(real_root, *parts[:n]))
                           for n in range(1, len(parts) + 1) if parts[n - 1]):
                    return path  # no link: the path as given (relative ones stay relative)
                return self._walk(real_root, parts, hops)
        return path

    def _walk(self, done: str, parts: list[str], hops: int) -> str:
        todo = parts[::-1]
        while todo:
            part = todo.pop()
            if part in ("", "."):
                continue
            if part == "..":
                done = os.path.dirname(done)
                continue
            candidate = os.path.join(done, part)
            if not os.path.islink(candidate):
                done = candidate
                continue
            hops += 1
            if hops > MAX_LINK_HOPS:
                return candidate  # the reader reports the loop
            target = os.readlink(candidate)
            if not os.path.isabs(target):
                todo.extend(target.split("/")[::-1])
                continue
            rest = os.path.join(target, *todo[::-1])
            mapped = self.mapped(rest)
            if mapped == rest and self.checkout_link(candidate, target):
                mapped = self.mapped(rest)
            if mapped == rest and not any(inside(r, target) or inside(os.path.realpath(r),
                                                                      target)
                                          for r in self.roots()):
                self.escapes[rest] = candidate
                return rest
            return self.follow(os.path.abspath(mapped), hops)
        return done

    def checkout_link(self, link: str, target: str) -> bool:
        """Infer the mapping of a standard prefix from a committed absolute link's target."""
        if next((p for p in INFER_PREFIXES if inside(p, target)), None) is None:
            return False
        return self.infer_prefix(None, target, self.files.display_real(link))

    def real(self, path: str) -> str:
        """The file a path reads, links followed (in a checkout, through the mapping)."""
        followed = self.follow(path)
        return followed if followed in self.escapes else self.files.realpath(followed)

    def modules_unknown(self, stmt: Stmt) -> None:
        """A note when the package's module files (modules-enabled/) are not in the checkout."""
        arg = stmt.args[0] if stmt.args else ""
        if MODULES_DIR in arg:
            self.workspace.notes.setdefault(
                f"loaded modules unknown: `include {arg}` ({stmt.file}:{stmt.line}) names "
                "the nginx package's module files, which this checkout does not hold; "
                "whether dynamic modules such as stream are loaded is not known")

    def escaped(self, path: str, included_by: Stmt | None) -> None:
        """Report a link that leaves the checkout onto this machine, on the link; a package
        file's link (modules-enabled/mod-stream.conf -> /usr/share/nginx/...) is no finding:
        what it loads is unknown, as when the checkout does not hold it."""
        if included_by is not None and included_by.args and stock_file(included_by.args[0]):
            self.modules_unknown(included_by)
            return
        if included_by is None and stock_file(os.path.relpath(self.escapes[path], self.prefix)):
            return  # a package file found in a folder: the include naming it says the rest
        link = self.files.display_real(self.escapes[path])
        base = next((p for p in INFER_PREFIXES if inside(p, path)), os.path.dirname(path))
        where = (included_by.file, included_by.line) if included_by else (link, None)
        self.missing(path, where, f"{link} is a symbolic link to {path}, outside the checkout "
                     "and not mapped: not followed onto this machine",
                     f"Map the target's folder onto the checkout with `--path-map {base}=DIR` "
                     f"(or the file alone: `--path-map {path}=FILE`), or commit a relative "
                     "link.", included_by)

    def outside(self, path: str) -> bool:
        """Whether reading `path` (a file, or the folder a glob starts in) would leave the
        checkout: its real path is in none of the checkout's folders (the prefix, those
        --path-map or inference mapped onto) and the user did not give --read-outside-tree.
        A checkout's configuration comes from a pull request as often as not: `include
        /etc/shadow;` must not put the linting machine's files into a report. The live
        system reads what nginx reads."""
        if not self.checkout or self.options.read_outside or \
                not isinstance(self.files, DiskFiles):
            return False
        real = os.path.realpath(static_part(path) if glob.has_magic(path) else path)
        roots = tuple(self.roots())
        if roots not in self._real_roots:
            self._real_roots[roots] = [os.path.realpath(root) for root in roots]
        return not any(inside(root, real) for root in self._real_roots[roots])

    def foreign_prefix(self, arg: str, path: str) -> str | None:
        """The nginx prefix an unmapped absolute include points into, when the tree is
        somewhere else."""
        if not self.map_includes or path != arg or not os.path.isabs(arg):
            return None
        if inside(os.path.realpath(self.prefix), os.path.realpath(arg)):
            return None
        return next((p for p in INFER_PREFIXES if inside(p, arg)), None)

    def infer_prefix(self, stmt: Stmt | None, arg: str, link: str | None = None) -> bool:
        """Map the standard prefix an absolute include (or a committed link's target) points
        into onto this tree's folder when the folder holds what it names
        (`/etc/nginx/sites-enabled/*` and a sites-enabled/ here), once per prefix, saying so
        in a note (MTLS910)."""
        base = next((p for p in INFER_PREFIXES if inside(p, arg)), None)
        if base is None or not self.options.infer_paths or \
                any(src == base for src, _ in self.inferred):
            return False
        rest = os.path.normpath(arg)[len(base):].lstrip("/")
        target = os.path.join(self.prefix, rest)
        top = rest.split("/", 1)[0]
        if glob.has_magic(rest):
            holds = bool(self.files.glob(target)) or ("/" in rest and os.path.isdir(
                os.path.join(self.prefix, top)))
        else:
            holds = bool(rest) and os.path.lexists(target) and not self.is_own(stmt, target)
        if not holds:
            return False
        self.inferred.append((base, self.prefix))
        shown = display_path(self.prefix)
        held = f"{top}/" if "/" in rest else top
        named = f"the link {link} points to {arg}; " if link else ""
        self.report("MTLS910", stmt.file if stmt else link, stmt.line if stmt else None,
                    f"{named}absolute paths under {base} are read from {shown}, which holds "
                    f"{held}: the mapping --path-map {base}={shown} was inferred. Give "
                    f"--path-map {base}=DIR to map it elsewhere, or --no-infer-paths to turn "
                    "this off.")
        return True

    @staticmethod
    def is_own(stmt: Stmt | None, target: str) -> bool:
        """Whether a mapping would make an include read the file it is written in: the
        deployed file is another (linuxserver's /etc/nginx/nginx.conf holds only
        `include /config/nginx/nginx.conf;`), so such a mapping is not inferred."""
        return stmt is not None and stmt.file is not None and \
            os.path.realpath(stmt.file) == os.path.realpath(target)

    def infer_file(self, src: str, stmt: Stmt | None, ca: bool = False) -> bool:
        """Map a file a checkout does not hold where the configuration names it onto the one
        file of the checkout with the same last two path components (a CA or CRL file: also
        the same name alone; a glob: the one folder of that name), saying so in a note."""
        if not (self.checkout and self.index is not None and self.options.infer_paths):
            return False
        src = os.path.normpath(src)
        folder, name = os.path.split(src)
        if glob.has_magic(folder):
            return False
        pattern = glob.has_magic(name)
        if pattern:  # the folder a glob reads: its last two components
            src, (folder, name) = folder, os.path.split(folder)
        tail = f"{os.path.basename(folder)}/{name}" + ("/" if pattern else "")
        found = self.index.unique(tail)
        if found is None and ca:
            found, tail = self.index.unique(name), name
        if found is None or any(s == src for s, _ in self.inferred) or \
                self.is_own(stmt, found):
            return False
        self.inferred.append((src, found))
        shown = display_path(found)
        why = "folder" if tail.endswith("/") else "file"
        note = (f"{display_path(src)} is not in the checkout where the configuration names "
                f"it; read {shown}, "
                f"the only {why} of the checkout ending in {tail}: the mapping "
                f"--path-map {src}={shown} was inferred")
        if stmt is None:
            self.workspace.notes.setdefault(note)
        else:
            self.report("MTLS910", stmt.file, stmt.line, note + ". Give --path-map to map it "
                        "elsewhere, or --no-infer-paths to turn this off.")
        return True

    def missing(self, path: str, where: tuple[str, int | None], message: str, fix: str,
                included_by: Stmt | None) -> None:
        """One MTLS901 per missing file; every further include of it is a related location."""
        found = self.missing_files.get(path)
        if found is None:
            finding = diagnostic("MTLS901", *where, message)
            finding.fix = fix
            self.missing_files[path] = finding
            self.workspace.findings.append(finding)
        elif included_by is not None and (found.file, found.line) != where:
            found.related.append(Related(included_by.file, included_by.line,
                                         f"also includes it: include {included_by.args[0]}"))

    def load(self, path: str, included_by: Stmt | None = None,
             preread: ReadResult | None = None) -> list[Stmt] | None:
        """The statements of `path` with includes expanded, or None if it is unreadable."""
        real = self.realpaths.get(path)
        if real is None:
            real = self.realpaths[path] = self.real(path)
        if real in self.expanded:  # the common case for shared snippets: no more work
            for closure in self.collecting:
                closure |= self.closures[real]
            return self.expanded[real]
        shown = self.files.display_real(real)
        where: tuple[str, int | None] = (
            (included_by.file, included_by.line) if included_by else (shown, None))
        if self._nested_too_far(real, shown, where):
            return None
        if real in self.escapes:
            self.escaped(real, included_by)
            return None
        if included_by is not None and self.outside(real):  # `..` or a link inside
            self._refuse_outside(included_by, real)
            return None
        result = preread or self.files.read(self.follow(path))
        if result.text is None:
            if result.missing:
                self.missing(real, where, *self._missing_message(real, included_by),
                             included_by)
            else:
                self.report("MTLS904", *where, f"cannot read {shown}: {result.problem}")
            return None
        self.workspace.files.add(shown)
        parsed = parse_text(result.text, shown)
        if included_by is not None and id(included_by) not in self.data_includes and \
                not_nginx(result.text, parsed):
            return self._opaque(real, shown, included_by)
        if result.bad_utf8_line:
            self.report("MTLS903", shown, result.bad_utf8_line,
                        "bytes that are not valid UTF-8; analysed with U+FFFD in their place")
        self.workspace.file_stmts[shown] = parsed.stmts
        for error in parsed.errors:
            self.report("MTLS905" if error.too_deep else "MTLS900", shown, error.line,
                        error.message)
        self.in_progress.append(real)
        closure = {real}
        self.collecting.append(closure)
        try:
            self._expand(parsed.stmts)
        finally:
            self.in_progress.pop()
            self.collecting.pop()
        for outer in self.collecting:
            outer |= closure
        self.closures[real] = closure
        self.expanded[real] = parsed.stmts
        return parsed.stmts

    def _nested_too_far(self, real: str, shown: str, where: tuple[str, int | None]) -> bool:
        """An include cycle or a chain deeper than MAX_INCLUDE_DEPTH: reported, not read."""
        if real in self.in_progress:
            chain = " -> ".join(self.files.display(p) for p in self.in_progress + [real])
            self.report("MTLS902", *where, f"include cycle: {chain}")
            return True
        if len(self.in_progress) >= MAX_INCLUDE_DEPTH:
            self.report("MTLS905", *where,
                        f"includes nested deeper than {MAX_INCLUDE_DEPTH} files; "
                        f"{shown} was not analysed")
            return True
        return False

    def _opaque(self, real: str, shown: str, included_by: Stmt) -> list[Stmt]:
        """An included file that is not nginx (see not_nginx): one error on the file (its
        first line; the include named), nothing of its text in any output, no statements."""
        self.workspace.opaque.add(shown)
        self.report("MTLS900", shown, 1,
                    f"{shown} is not nginx configuration (`include {included_by.args[0]}`; "
                    "`nginx -t` fails on it): not analysed, and its text is not shown",
                    [Related(included_by.file, included_by.line,
                             f"`include {included_by.args[0]}` includes it")])
        self.expanded[real], self.closures[real] = [], {real}
        for outer in self.collecting:
            outer.add(real)
        return []

    def _missing_message(self, path: str, included_by: Stmt | None) -> tuple[str, str]:
        """(message, fix) for a file that is not there, matching how the include names it."""
        if included_by is None:
            return f"{path}: no such file", "Fix the path."
        arg = included_by.args[0] if included_by.args else ""
        shown = self.files.display_real(path)
        message = f"include {arg}: {shown} does not exist"
        if not absolute(arg) or not self.checkout or not isinstance(self.files, DiskFiles):
            return message, (f"Create {shown}, or correct the include: `nginx -t` fails while "
                             "the file is missing.")
        base = next((p for p in INFER_PREFIXES if inside(p, arg)), os.path.dirname(arg))
        if self.mapped(normal_path(arg)) != normal_path(arg):  # the file is not in the checkout
            return message, (f"Commit {shown}, or map this file alone onto the one that "
                             f"holds it: `--path-map {arg}=FILE`.")
        return (message + f"; map it onto your checkout with --path-map {base}=DIR",
                f"Map {base} onto the folder of the checkout that holds it "
                f"(`--path-map {base}=DIR`), or this file alone (`--path-map {arg}=FILE`).")

    def _kept_elsewhere(self, stmt: Stmt, arg: str, path: str,
                        foreign: str | None) -> str | None:
        """The path to read for an include whose file is not where it names it: the one the
        checkout keeps under another folder (inferred, with a note), else `path` itself; None
        when it names another machine's file no mapping brings here (reported)."""
        unmapped = bool(foreign) or (windows_path(arg) and path == normal_path(arg))
        src = normal_path(arg) if absolute(arg) else os.path.join(self.prefix, arg)
        if (unmapped or not (glob.has_magic(path) or os.path.lexists(path))) and \
                self.infer_file(src, stmt):
            return self.resolve(arg)
        if unmapped:
            self.unmapped(stmt, arg, foreign)
            return None
        return path

    def unmapped(self, stmt: Stmt, arg: str, foreign: str | None) -> None:
        """An absolute include of another machine's file that no mapping brings here."""
        if foreign is None:  # a Windows path
            base = os.path.dirname(normal_path(arg))
            where = "is a path on the Windows host"
        else:
            base = foreign
            rest = os.path.normpath(arg)[len(foreign):].lstrip("/")
            own = self.is_own(stmt, os.path.join(self.prefix, rest))
            held = (f", whose {rest} is this file itself" if own else
                    f", which does not hold {rest}" if self.options.infer_paths else "")
            where = (f"points into {foreign} on this machine, outside the linted tree "
                     f"({display_path(self.prefix)}){held}")
        self.missing(normal_path(arg), (stmt.file, stmt.line),
                     f"include {arg}: {where}; not read. Map {base} onto the folder that "
                     f"holds it with --path-map {base}=DIR",
                     f"Map {base} onto the folder of the checkout that holds it "
                     f"(`--path-map {base}=DIR`), or this file alone (`--path-map {arg}=FILE`).",
                     stmt)

    def _expand(self, stmts: list[Stmt], data: bool = False) -> None:
        for stmt in stmts:
            if stmt.block is not None:
                self._expand(stmt.block, data or stmt.name in FREE_FORM_BLOCKS)
            elif stmt.name == "include":
                if data:  # a map's or types' entries: data, not directives
                    self.data_includes.add(id(stmt))
                self._include(stmt)

    def _include(self, stmt: Stmt) -> None:
        if len(stmt.args) != 1:
            self.report("MTLS900", stmt.file, stmt.line,
                        'invalid number of arguments in "include" directive')
            return
        arg = stmt.args[0]
        path = self.resolve(arg)
        if self.checkout and path == arg and self.foreign_prefix(arg, path) and \
                self.infer_prefix(stmt, arg):
            path = self.resolve(arg)
        foreign = self.foreign_prefix(arg, path)
        stock = self.checkout and stock_file(arg)
        if stock and (foreign or not (self.files.glob(path) if glob.has_magic(path)
                                      else os.path.lexists(path))):
            # the package's file, not in the checkout: it cannot change a verdict
            stmt.included = []
            self.modules_unknown(stmt)
            return
        stmt.included = []
        found = self._kept_elsewhere(stmt, arg, path, foreign)
        if found is None:
            return
        path = found
        if self.outside(path):
            self._refuse_outside(stmt, path)
            return
        for target in self._targets(stmt, path):
            loaded = self.load(target, included_by=stmt)
            if loaded:
                stmt.included.extend(loaded)

    def _targets(self, stmt: Stmt, path: str) -> list[str]:
        """The files an include names: a glob's matches, sorted (none is fine, as in
        nginx), and a diagnostic for each folder it could not list."""
        if not glob.has_magic(path):
            return [path]
        if isinstance(self.files, DiskFiles):
            for folder in unlisted_folders(path):
                self.report("MTLS904", stmt.file, stmt.line,
                            f"include {stmt.args[0]}: cannot list {self.files.display(folder)}"
                            " (permission denied); the files it holds were not analysed")
        return self.files.glob(path)

    def _refuse_outside(self, stmt: Stmt, path: str) -> None:
        self.report("MTLS901", stmt.file, stmt.line,
                    f"include {stmt.args[0]}: {self.files.display(path)} is outside the linted "
                    f"tree ({display_path(self.prefix)}); not read. Map its folder onto the "
                    "files it should be with --path-map /SRC=DIR, or give --read-outside-tree")
