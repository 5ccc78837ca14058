"""Where a report's paths are relative to, and each finding's stable identity.

CI systems match a finding across runs by an identity: GitLab's `fingerprint`, SARIF's
`partialFingerprints`, our own baseline. It is built from what does not move when lines are
added above a finding: the rule, the file (relative to the repository root, so the working
directory does not matter), the server's names and the responsible directive's text. Never a
line number, never a message (messages say `file:line`).
"""

from __future__ import annotations

import hashlib
import os
import re
from functools import lru_cache
from typing import Iterable

from .findings import Finding

IDENTITY_KEY = "nginxMtlsLint/v1"  # our key in SARIF partialFingerprints


@lru_cache(maxsize=None)
def repository_root(start: str | None = None) -> str | None:
    """The top level of the git work tree holding `start` (default: the working directory),
    found by looking for `.git` upward (no git process is run)."""
    folder = os.path.abspath(start or os.getcwd())
    while True:
        if os.path.exists(os.path.join(folder, ".git")):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def base_folder() -> str:
    """What report paths are relative to: the git top level, else the working directory."""
    return repository_root(os.getcwd()) or os.getcwd()


def relative_path(file: str, base: str | None = None) -> str | None:
    """`file` relative to `base` (default base_folder()), with `/`; None when outside it."""
    base = base or base_folder()
    absolute = os.path.abspath(file)
    if absolute == base or not absolute.startswith(base.rstrip(os.sep) + os.sep):
        return None
    return os.path.relpath(absolute, base).replace(os.sep, "/")


# A `file:line` is a whole word: tried only where a word starts (`\S+` from every position
# of a 200k-character token backtracked quadratically), ending at its last `:digits`.
LOCATION = re.compile(r"(?<!\S)\S+:\d+(?: \(inherited from http \{\}\))?")
INHERITED = re.compile(r" \(inherited from (?:http|stream) \{\}\)")


def message_shape(finding: Finding) -> str:
    """The message without what is specific to one server or one line: the server's names
    and every `file:line` replaced by a NUL. Equal shapes of one rule and cause are one
    finding (lint.py)."""
    message = finding.message
    if finding.server is not None:
        for name in sorted(finding.server.names, key=len, reverse=True):
            message = message.replace(name, "\0")
    return LOCATION.sub("\0", INHERITED.sub("", message))


def v1_shape(finding: Finding) -> str:
    """message_shape() as version 1 computed it, when messages still said where their
    directive is: "`ssl_crl x` at FILE:LINE: ..." (a file's findings open with it), and a
    nameless server was "server at FILE:LINE". Published fingerprints stay what they were
    (tests/test_identity_contract.py)."""
    shape = message_shape(finding).replace("the server with no server_name", "server at \0")
    shape = shape.replace("stream server with no server_name", "stream server at \0")
    return re.sub(r"^(`[^`]*`)", "\\1 at \0", shape, count=1)


def identities(findings: Iterable[Finding]) -> dict[int, str]:
    """id(finding) -> its identity, unique within the run (a repeat gets `:2`, `:3`...).

    A finding about a file (a CA file several servers name) is identified by that file and
    its message's shape; one that affects several servers through one directive, by the
    directive; one about a single server, also by that server's names.
    """
    base = base_folder()
    seen: dict[str, int] = {}
    found: dict[int, str] = {}
    for f in findings:
        if f.cause is not None and isinstance(f.cause, str):
            parts = [f.rule, "file", relative_path(f.cause, base) or f.cause, v1_shape(f)]
        else:
            file = (relative_path(f.file, base) or f.file) if f.file else ""
            names = " ".join(f.server.names) if f.server and len(f.servers) <= 1 else ""
            what = f.directive if f.directive is not None else \
                f.message if f.line is None else ""
            parts = [f.rule, file, names, what]
        key = hashlib.sha256("\0".join(parts).encode()).hexdigest()
        seen[key] = seen.get(key, 0) + 1
        found[id(f)] = key if seen[key] == 1 else f"{key}:{seen[key]}"
    return found
