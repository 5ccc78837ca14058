"""Lines folded to the terminal's width with a hanging indent: what a finding says stays under
the finding, not at column 0 where the terminal would put it."""

from __future__ import annotations

import shutil
import textwrap
from typing import TextIO

from rich.text import Text

MIN_TEXT = 20  # a continuation keeps at least this many columns for text, whatever the indent


def terminal_width(stream: TextIO) -> int | None:
    """The width to fold at: the terminal's, or None when the output is not a terminal (a
    file or a pipe keeps one line per line, for grep)."""
    try:
        if not stream.isatty():
            return None
    except (AttributeError, ValueError):
        return None
    return shutil.get_terminal_size((80, 24)).columns


def _cut(plain: str, start: int, room: int) -> int:
    """Where to end a line that starts at `start` and may hold `room` characters: after the
    last space that fits, else (a word longer than the room) at the room."""
    if len(plain) - start <= room:
        return len(plain)
    space = plain.rfind(" ", start + 1, start + room + 1)
    return space if space > start else start + room


def hang(text: Text, indent: int, width: int | None) -> list[Text]:
    """`text` folded at `width`, each continuation line indented by `indent` spaces."""
    plain = text.plain
    if width is None or len(plain) <= width:
        return [text]
    indent = min(indent, max(width - MIN_TEXT, 0))
    lines: list[Text] = []
    start, room = 0, width
    while start < len(plain):
        end = _cut(plain, start, room)
        piece = text[start:end]
        lines.append(piece if not lines else Text(" " * indent) + piece)
        start = end
        while start < len(plain) and plain[start] == " ":
            start += 1
        room = width - indent
    return lines


def hang_plain(line: str, indent: int, width: int | None) -> str:
    """The same for plain text: one string, folded lines joined by newlines."""
    if width is None or len(line) <= width:
        return line
    indent = min(indent, max(width - MIN_TEXT, 0))
    return "\n".join(textwrap.wrap(line, width, subsequent_indent=" " * indent,
                                   break_on_hyphens=False, drop_whitespace=True)) or line
