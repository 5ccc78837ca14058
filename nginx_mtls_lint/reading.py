"""Reading files safely, as the loader and every other reader of the user's files do: only
regular files (typed with stat before any open), at most a size, and the folders a glob
must list; what an included file that is not nginx looks like. Kept apart from loader.py,
whose include expansion is long enough."""

from __future__ import annotations

import errno
import glob
import os
import stat
from dataclasses import dataclass

from .directives import known
from .errors import UsageError  # noqa: F401 (importable from here, as before)
from .parser import Parsed, looks_like_nginx

MAX_CONFIG_BYTES = 64 * 1024 * 1024


def display_path(path: str, cwd: str | None = None) -> str:
    """Paths under the working directory are shown relative to it, others absolute."""
    absolute = os.path.abspath(path)
    cwd = cwd or os.getcwd()
    if absolute == cwd:
        return "."
    base = cwd.rstrip(os.sep) + os.sep
    return absolute[len(base):] if absolute.startswith(base) else absolute


# --------------------------------------------------------------------------- reading files

@dataclass(slots=True)
class ReadResult:
    text: str | None
    missing: bool = False
    problem: str | None = None  # why the file could not be read (MTLS904)
    bad_utf8_line: int | None = None


def regular_file_problem(path: str) -> tuple[bool, str | None]:
    """Why `path` must not be opened: (missing, problem), both empty for a regular file.
    Checked with stat before any open, so that a device node's driver never runs (a
    watchdog arms, a serial line raises DTR) and a FIFO never blocks the run."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return True, None
    except OSError as e:
        if e.errno == errno.ELOOP:
            return False, "symbolic link loop"
        if e.errno == errno.ENOTDIR:
            return True, None
        return False, e.strerror or str(e)
    if stat.S_ISDIR(st.st_mode):
        return False, "is a directory"
    if not stat.S_ISREG(st.st_mode):
        return False, "is not a regular file (FIFO, socket or device)"
    return False, None


def read_limited(path: str, limit: int) -> tuple[bytes | None, bool, str | None]:
    """Read a regular file, at most `limit` bytes. Returns (data, missing, problem).

    The type is checked with stat before opening (see regular_file_problem), and again with
    fstat on what was opened (non-blocking), in case the path changed in between.
    """
    missing, problem = regular_file_problem(path)
    if missing or problem:
        return None, missing, problem
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        return None, True, None
    except OSError as e:
        return None, False, e.strerror or str(e)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None, False, "is not a regular file (FIFO, socket or device)"
        if st.st_size > limit:
            return None, False, f"is larger than {limit // (1024 * 1024)} MiB"
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            return None, False, f"is larger than {limit // (1024 * 1024)} MiB"
        return b"".join(chunks), False, None
    except OSError as e:
        return None, False, e.strerror or str(e)
    finally:
        os.close(fd)


def read_user_file(path: str, limit: int, what: str) -> str:
    """The UTF-8 text of a file the user named for the run itself (a baseline, the
    configuration file): a regular file (never a FIFO or device: see read_limited), or a
    UsageError saying why not."""
    data, missing, problem = read_limited(path, limit)
    if data is None:
        raise UsageError(f"cannot read {what} {path}: {'no such file' if missing else problem}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise UsageError(f"cannot read {what} {path}: line {line} is not UTF-8") from None


def decode_config(data: bytes) -> ReadResult:
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        return ReadResult(None, problem=f"binary content (NUL byte on line {line})")
    try:
        return ReadResult(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        return ReadResult(data.decode("utf-8", errors="replace"), bad_utf8_line=line)


class DiskFiles:
    """Configuration files on disk."""

    def __init__(self) -> None:
        self.cwd = os.getcwd()
        self.real_dirs: dict[str, str] = {}

    def read(self, path: str) -> ReadResult:
        data, missing, problem = read_limited(path, MAX_CONFIG_BYTES)
        if data is None:
            return ReadResult(None, missing=missing, problem=problem)
        return decode_config(data)

    def glob(self, pattern: str) -> list[str]:
        return sorted(glob.glob(pattern))

    def realpath(self, path: str) -> str:
        """os.path.realpath, resolving each folder once: a glob of 10,000 sites shares one."""
        folder, name = os.path.split(os.path.abspath(path))
        real_dir = self.real_dirs.get(folder)
        if real_dir is None:
            real_dir = self.real_dirs[folder] = os.path.realpath(folder)
        joined = os.path.join(real_dir, name)
        return os.path.realpath(joined) if os.path.islink(joined) else joined

    def display(self, path: str) -> str:
        return display_path(os.path.realpath(path), self.cwd)

    def display_real(self, real: str) -> str:
        return display_path(real, self.cwd)


def not_nginx(text: str, parsed: Parsed) -> bool:
    """An included file that is not nginx configuration at all (/etc/passwd, a .env, a
    .netrc): nginx fails on it, and quoting its tokens would publish it. A broken nginx file
    (mostly known directives) keeps its parse errors; data files nginx includes (mime.types,
    a file of `map` blocks) parse without a top-level unknown word."""
    unknown = any(s.name != "#" and not known(s.name) for s in parsed.stmts)
    return (bool(parsed.errors) or unknown) and not looks_like_nginx(text)


def static_part(pattern: str) -> str:
    """The folder a glob pattern starts in: its segments before the first with magic."""
    parts = pattern.split(os.sep)
    index = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    return os.sep.join(parts[:index]) or os.sep


def unlisted_folders(pattern: str) -> list[str]:
    """The folders a glob pattern must list but cannot (permission denied): glob skips
    them without a word, and nginx run as root would read what they hold."""
    found: list[str] = []
    while glob.has_magic(pattern):
        folder = os.path.dirname(pattern)
        if glob.has_magic(os.path.basename(pattern)):
            for each in glob.glob(folder) if glob.has_magic(folder) else [folder]:
                if os.path.isdir(each) and not listable(each):
                    found.append(each)
        pattern = folder
    return sorted(found)


def listable(folder: str) -> bool:
    try:
        with os.scandir(folder):
            return True
    except PermissionError:
        return False
    except OSError:
        return True  # gone or not a folder: nothing glob skipped
