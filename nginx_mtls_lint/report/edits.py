"""Structured fixes as text: a small preview under a finding, and `--diff` (one unified diff of
the chosen fixes, which `patch -p1` applies from the working directory). Nothing is written
into the configuration tree."""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field

from ..findings import SAFE, Edit, Finding, Fix
from ..loader import MAX_CONFIG_BYTES, read_limited


def _offset(starts: list[int], line: int, column: int) -> int:
    """Character offset of (line, column) in a text whose line starts are `starts`."""
    if line > len(starts):
        return starts[-1] + 10**9  # past the end: clamped by slicing
    return starts[line - 1] + column - 1


def apply(text: str, edits: list[Edit]) -> str:
    """`text` with non-overlapping edits applied."""
    starts = [0]
    for i, char in enumerate(text):
        if char == "\n":
            starts.append(i + 1)
    spans = sorted(((_offset(starts, e.start_line, e.start_column),
                     _offset(starts, e.end_line, e.end_column), e.text) for e in edits),
                   reverse=True)
    for start, end, new in spans:
        text = text[:start] + new + text[end:]
    return text


def preview(lines: list[str | None], first_line: int, edit: Edit) -> tuple[list[str], list[str]]:
    """(old lines, new lines) of one edit, `lines` being the file's lines from `first_line`
    on (None past the end); lines both sides share at either end are left out."""
    old = "\n".join(line or "" for line in lines)
    new = apply(old, [Edit(edit.file, edit.start_line - first_line + 1, edit.start_column,
                           edit.end_line - first_line + 1, edit.end_column, edit.text)])
    before, after = old.split("\n"), new.split("\n")
    while before and after and before[-1] == after[-1]:
        before.pop()
        after.pop()
    while before and after and before[0] == after[0]:
        before.pop(0)
        after.pop(0)
    return before, after


def patch_lines(text: str) -> list[str]:
    """The lines of a file as patch counts them: split at `\\n` only (str.splitlines also
    splits at a form feed, U+0085 or U+2028, and patch then finds a malformed hunk)."""
    lines = [line + "\n" for line in text.split("\n")]
    lines[-1] = lines[-1][:-1]
    return lines if lines[-1] else lines[:-1]


def file_diff(path: str, old: str, new: str) -> list[str]:
    """The unified diff of one file, with its own header: difflib writes names as they
    are, patch needs them quoted."""
    hunks = list(difflib.unified_diff(patch_lines(old), patch_lines(new), lineterm="\n"))
    if not hunks:
        return []
    return [f"--- {diff_name('a/' + path)}\n", f"+++ {diff_name('b/' + path)}\n", *hunks[2:]]


def diff_name(name: str) -> str:
    """A file name in a `---`/`+++` line as git writes it, so that `patch -p1` reads it
    back: C-quoted when it holds a control character, a quote, a backslash or bytes that
    are not UTF-8 (octal escapes); a name with a space ends with a tab."""
    raw = os.fsencode(name)
    if not any(b < 0x20 or b in (0x22, 0x5C, 0x7F) or b >= 0x80 for b in raw):
        return name + ("\t" if " " in name else "")
    named = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r", 0x22: '\\"', 0x5C: "\\\\"}
    return '"' + "".join(named.get(b) or (chr(b) if 0x20 <= b < 0x7F else f"\\{b:03o}")
                         for b in raw) + '"'


@dataclass(slots=True)
class Diff:
    text: str = ""
    left_out: list[str] = field(default_factory=list)  # why some fixes are not in the diff


def fixable(findings: list[Finding]) -> tuple[int, int]:
    """(findings a safe fix closes, findings only an unsafe fix closes), unsuppressed."""
    active = [f for f in findings if not f.suppressed and any(fix.applies for fix in f.fixes)]
    safe = sum(any(fix.applies and fix.applicability == SAFE for fix in f.fixes)
               for f in active)
    return safe, len(active) - safe


def fixable_text(findings: list[Finding]) -> str | None:
    """ruff's wording: `2 fixable with --diff (3 hidden fixes can be enabled with
    --diff --unsafe-fixes).`"""
    safe, hidden = fixable(findings)
    if not safe and not hidden:
        return None
    text = f"{safe} fixable with --diff"
    if hidden:
        text += (f" ({hidden} hidden fix{'' if hidden == 1 else 'es'} can be enabled with "
                 "--diff --unsafe-fixes)")
    return text + "."


def chosen_fixes(findings: list[Finding], unsafe: bool) -> list[tuple[Finding, Fix]]:
    return [(f, fix) for f in findings if not f.suppressed for fix in f.fixes
            if fix.applies and (fix.applicability == SAFE or unsafe)]


def unified_diff(findings: list[Finding], unsafe: bool, dump_files: set[str],
                 cwd: str | None = None) -> Diff:
    """One unified diff (a/ and b/ prefixes, paths relative to the working directory) of the
    chosen fixes. A fix whose edits overlap an earlier one's, or that touches a file outside
    the working directory or from an `nginx -T` dump, is left out and named."""
    cwd = cwd or os.getcwd()
    out = Diff()
    by_file: dict[str, list[Edit]] = {}
    for finding, fix in chosen_fixes(findings, unsafe):
        name = f"{finding.rule} at {finding.file}:{finding.line} ({fix.title})"
        files = {e.file for e in fix.edits}
        outside = sorted(f for f in files if f in dump_files or os.path.isabs(f)
                         or f.startswith(".." + os.sep))
        if outside:
            why = "comes from an nginx -T dump" if outside[0] in dump_files else \
                "is outside the working directory"
            out.left_out.append(f"{name}: {outside[0]} {why}")
            continue
        if all(e in by_file.get(e.file, []) for e in fix.edits):
            continue  # the same fix for another finding (one cause, several findings)
        if any(e.overlaps(other) for e in fix.edits for other in by_file.get(e.file, [])):
            out.left_out.append(f"{name}: overlaps another fix")
            continue
        for edit in fix.edits:
            by_file.setdefault(edit.file, []).append(edit)
    chunks: list[str] = []
    for file in sorted(by_file):
        data, _, problem = read_limited(os.path.join(cwd, file), MAX_CONFIG_BYTES)
        if data is None:
            out.left_out.append(f"fixes in {file}: cannot read it ({problem})")
            continue
        old = data.decode("utf-8", errors="surrogateescape")
        new = apply(old, by_file[file])
        chunks += file_diff(file.replace(os.sep, "/"), old, new)
    out.text = "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                       for line in chunks)
    return out
