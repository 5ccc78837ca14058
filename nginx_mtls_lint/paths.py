"""Paths as a configuration names them: absolute on its own machine (POSIX or Windows), and
mapped onto this one with --path-map (a folder onto a folder, a file onto a file)."""

from __future__ import annotations

import functools
import os
import re
from typing import Any, Callable, TypeVar, cast

DEFAULT_ROOT = "/etc/nginx/nginx.conf"  # what nginx reads when no path is given

T = TypeVar("T")

# A path of another machine's nginx on Windows: `C:/nginx/conf/ca.pem`, `C:\nginx\...`,
# `\\server\share\...`. Absolute there, so never joined to the prefix here.
WINDOWS_ABSOLUTE = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\)")


def windows_path(arg: str) -> bool:
    return WINDOWS_ABSOLUTE.match(arg) is not None


def absolute(arg: str) -> bool:
    """Absolute on the machine the configuration was written for (POSIX or Windows)."""
    return os.path.isabs(arg) or windows_path(arg)


def normal_path(arg: str) -> str:
    """A Windows path with `/` separators (nginx accepts both), others as written."""
    return arg.replace("\\", "/") if windows_path(arg) else arg


def map_path(path: str, path_map: list[tuple[str, str]]) -> str:
    """Apply the longest matching `--path-map SRC=DST` to an absolute path (a folder onto a
    folder, or one file onto one file)."""
    best = None
    path = normal_path(path)
    for src, dst in path_map:
        src = normal_path(src).rstrip("/") or "/"
        if path == src or path.startswith(src.rstrip("/") + "/"):
            if best is None or len(src) > len(best[0]):
                best = (src, dst)
    if best is None:
        return path
    rest = path[len(best[0]):].lstrip("/")
    return os.path.join(best[1], rest) if rest else best[1]


def inside(base: str, path: str) -> bool:
    return path == base or path.startswith(base.rstrip("/") + "/")


def once_per_inference(method: Callable[[Any, str], T]) -> Callable[[Any, str], T]:
    """A Loader's answer about a path as written, computed once until an inferred mapping is
    added: every CA/CRL check of every server asks again, and re-walking the checkout's links
    each time was a third of a 1,000-vhost run."""
    @functools.wraps(method)
    def answer(loader: Any, arg: str) -> T:
        answers = loader.__dict__.setdefault("_answers", {})
        key = (method.__name__, arg, len(loader.inferred))
        if key not in answers:
            answers[key] = method(loader, arg)
        return cast(T, answers[key])
    return answer
