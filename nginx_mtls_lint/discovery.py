"""Which files are nginx configuration: the one place that decides it for a folder (by name,
by the patterns a user gives, by how a file opens), what to lint when no path is given, and
the index of a checkout's files used to find one kept under another folder. Other kinds of
input (Kubernetes manifests) hook in beside scan_directory."""

from __future__ import annotations

import fnmatch
import os
import re
import stat

from .identity import repository_root
from .parser import looks_like_nginx

# Directory names whose files are nginx configuration whatever their extension.
CONFIG_DIRS = {
    "sites-available", "sites-enabled", "conf.d", "vhosts", "vhosts.d", "servers",
    "http.d", "snippets", "includes",
    "vhost.d",  # nginx-proxy's per-host snippets, named after the host (no extension)
}
# Suffixes of templates a repository ships instead of the file itself (default.conf.sample).
TEMPLATE_SUFFIXES = (".sample", ".example", ".tmpl", ".j2", ".dist")
NOT_CONFIG_SUFFIXES = {
    ".pem", ".crt", ".cer", ".key", ".csr", ".der", ".p12", ".pfx", ".crl", ".md", ".txt",
    ".json", ".yml", ".yaml", ".j2", ".tmpl", ".sh", ".py", ".html", ".js", ".css", ".png",
    ".jpg", ".gif", ".svg", ".ico", ".gz", ".zip", ".tar", ".bak", ".swp", ".orig", ".rej",
    ".dpkg-dist", ".dpkg-old", ".sample", ".example", ".lua", ".php",
}

# The first statement of a file that is nginx configuration whatever its name: a vhost file
# `api.vhost` or `shop` that opens a server (or http, events, stream, upstream, map) block.
NGINX_OPENING = re.compile(
    r"\A(?:\s*(?:#[^\n]*)?\n)*\s*(?:(?:server|http|events|stream)\s*\{|upstream\s+\S+\s*\{"
    r"|map\s+\S+\s+\S+\s*\{)")
OPENING_BYTES = 4096


def is_config_candidate(path: str) -> bool:
    name = os.path.basename(path)
    if name.startswith("."):
        return False
    if name == "nginx.conf" or name.endswith(".conf"):
        return True
    parent = os.path.basename(os.path.dirname(path))
    suffix = os.path.splitext(name)[1].lower()
    return parent in CONFIG_DIRS and suffix not in NOT_CONFIG_SUFFIXES


def included_by_pattern(path: str, relative: str, patterns: list[str]) -> bool:
    """Whether --extend-include / extend-include: names the file (by its path below the
    folder given, or by its name)."""
    name = os.path.basename(path)
    return any(fnmatch.fnmatchcase(relative, p) or fnmatch.fnmatchcase(name, p)
               for p in patterns)


def opens_like_nginx(path: str) -> bool:
    """A file of any name whose first statement opens a server/http/events/stream/upstream/
    map block (comments and blank lines before it allowed)."""
    name = os.path.basename(path)
    if name.startswith(".") or os.path.splitext(name)[1].lower() in NOT_CONFIG_SUFFIXES:
        return False
    head = _head(path, OPENING_BYTES)
    return head is not None and b"\0" not in head and \
        NGINX_OPENING.match(head.decode("utf-8", "replace")) is not None


def _head(path: str, limit: int) -> bytes | None:
    """The first `limit` bytes of a regular file (opened once, checked on the open file: no
    race with a swap for a FIFO); None for anything else or what cannot be read."""
    try:
        with open(path, "rb", buffering=0) as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return None
            return f.read(limit)
    except OSError:
        return None


def scan_directory(folder: str, patterns: list[str] | None = None,
                   unlisted: list[str] | None = None) -> tuple[list[str], list[str]]:
    """(nginx.conf files, other config files) below `folder`, sorted. The one place that
    decides which files of a folder are nginx: by name (nginx.conf, *.conf, files of the
    usual config folders), by the patterns given, and by how a file opens. The folders that
    could not be listed (permission denied) are added to `unlisted`."""
    roots, others = [], []

    def failed(error: OSError) -> None:
        if unlisted is not None and isinstance(error, PermissionError) and error.filename:
            unlisted.append(error.filename)

    for dirpath, dirnames, filenames in os.walk(folder, onerror=failed, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if name == "nginx.conf":
                roots.append(path)
            elif is_config_candidate(path) or included_by_pattern(
                    path, os.path.relpath(path, folder), patterns or []) or \
                    opens_like_nginx(path):
                others.append(path)
    return roots, others


def templates_like_nginx(folder: str, limit: int = 3) -> tuple[list[str], list[str]]:
    """(up to `limit` template files below `folder` that read as nginx once their template
    suffix is dropped, the --extend-include patterns that would lint them): what to tell a
    user when a folder holds no nginx configuration but its templates do."""
    found: list[str] = []
    patterns: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            stem, suffix = os.path.splitext(name)
            path = os.path.join(dirpath, name)
            if suffix.lower() in TEMPLATE_SUFFIXES and not name.startswith(".") and (
                    stem.endswith(".conf") or stem == "nginx" or
                    os.path.basename(dirpath) in CONFIG_DIRS) and looks_like_nginx_file(path):
                found.append(path)
                pattern = f"*{'.conf' if stem.endswith('.conf') else ''}{suffix}"
                patterns += [pattern] if pattern not in patterns else []
                if len(found) >= limit:
                    return found, patterns
    return found, patterns


MAX_INDEXED_FILES = 50_000  # a checkout's files looked through for a missing one, at most


class CheckoutIndex:
    """The files and folders of a checkout by their last path components, for finding a file
    an absolute path names on the deployed host (`/etc/nginx/snippets/tls.conf`) that the
    repository keeps somewhere else (`nginx/snippets/tls.conf`). Built on first use."""

    def __init__(self, top: str):
        self.top = top
        self._by_tail: dict[str, list[str]] | None = None

    def _build(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        count = 0
        for dirpath, dirnames, filenames in os.walk(self.top, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            parent = os.path.basename(dirpath)
            for name in dirnames:
                found.setdefault(f"{parent}/{name}/", []).append(os.path.join(dirpath, name))
            for name in filenames:
                path = os.path.join(dirpath, name)
                found.setdefault(f"{parent}/{name}", []).append(path)
                found.setdefault(name, []).append(path)
            count += len(filenames)
            if count > MAX_INDEXED_FILES:
                break
        return found

    def unique(self, tail: str) -> str | None:
        """The one file ending in `tail` (`name` or `folder/name`), or the one folder ending
        in `folder/name/`, if exactly one does."""
        if self._by_tail is None:
            self._by_tail = self._build()
        found = self._by_tail.get(tail, [])
        return found[0] if len(found) == 1 else None


def default_inputs(cwd: str | None = None) -> list[str]:
    """What to lint when no path is given. Inside a git work tree that holds nginx files, that
    work tree (as ruff lints the working directory); but a work tree under a standard nginx
    prefix, `/etc` kept in git or a home directory is this machine's own: its live nginx."""
    from .loader import display_path
    from .paths import DEFAULT_ROOT

    cwd = cwd or os.getcwd()
    top = repository_root(cwd)
    if top is None or system_folder(top):
        return [DEFAULT_ROOT]
    roots, others = scan_directory(top)
    if not roots and not any(looks_like_nginx_file(p) for p in others):
        return [DEFAULT_ROOT]
    return [display_path(top, cwd)]


def system_folder(top: str) -> bool:
    """A git top level that is this machine's configuration or someone's home, not a
    configuration repository."""
    from .loader import NGINX_PREFIXES, inside

    real = os.path.realpath(top)
    homes = {os.path.realpath(os.path.expanduser("~")), "/root"}
    return real in ("/", "/etc") or real in homes or os.path.dirname(real) == "/home" or \
        any(inside(os.path.realpath(p), real) for p in NGINX_PREFIXES)


def looks_like_nginx_file(path: str, limit: int = 1 << 20) -> bool:
    """Whether a regular file's first MiB reads as nginx (parser.looks_like_nginx)."""
    data = _head(path, limit)
    return data is not None and looks_like_nginx(data.decode("utf-8", errors="replace"))
