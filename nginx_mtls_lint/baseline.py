"""Baselines: adopt the linter on an existing estate without fixing everything first.

`--write-baseline FILE` records the identity (identity.py) of every finding of the run;
`--baseline FILE` then marks the findings it holds as suppressed (reason: "in the baseline"),
so they are neither shown nor failing, while new findings still fail. Identities hold no line
numbers: a baselined finding stays baselined when lines are added above it.
"""

from __future__ import annotations

import json
from typing import Iterable

from . import __version__
from .findings import Finding
from .identity import identities
from .loader import UsageError, read_user_file

BASELINE_VERSION = 1
MAX_BASELINE_BYTES = 256 * 1024 * 1024


def write(path: str, findings: Iterable[Finding]) -> int:
    active = [f for f in findings if not f.suppressed]
    keys = identities(active)
    document = {
        "version": BASELINE_VERSION,
        "tool": {"name": "nginx-mtls-lint", "version": __version__},
        "findings": [{"identity": keys[id(f)], "rule": f.rule, "file": f.file,
                      "message": f.message} for f in active],
    }
    try:
        with open(path, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=2, ensure_ascii=False)
            out.write("\n")
    except OSError as e:
        raise UsageError(f"cannot write the baseline {path}: {e.strerror}") from None
    return len(active)


def read(path: str) -> set[str]:
    text = read_user_file(path, MAX_BASELINE_BYTES, "the baseline")
    try:
        document = json.loads(text)
        if not isinstance(document, dict) or document.get("version") != BASELINE_VERSION:
            raise ValueError(f"expected a version {BASELINE_VERSION} baseline")
        return {str(item["identity"]) for item in document["findings"]}
    except (ValueError, KeyError, TypeError) as e:
        raise UsageError(f"{path}: not a baseline written by --write-baseline ({e})") from None


def apply(path: str, findings: list[Finding]) -> int:
    """Mark the findings held in the baseline at `path` as suppressed; how many were."""
    known = read(path)
    active = [f for f in findings if not f.suppressed]
    keys = identities(active)
    count = 0
    for finding in active:
        if keys[id(finding)] in known:
            finding.suppressed = True
            finding.suppression_reason = f"in the baseline {path}"
            count += 1
    return count
