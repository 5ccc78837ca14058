"""Text from the input made safe for a terminal or a line-based format: control characters
(ESC of clear-screen, window-title and hyperlink sequences, CR, BS, newlines), C1 controls,
Unicode line separators and bidirectional overrides become visible escapes (`\\x1b`,
`\\u2028`). File names, server names, comments and source lines all pass through here in the
text formats (console, concise, github, trace, inspect); JSON and SARIF escape for
themselves."""

from __future__ import annotations

from typing import TextIO

_UNSAFE = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029,
           *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C]
ESCAPES = {code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" for code in _UNSAFE}
ESCAPES[0x09] = "\t"  # a tab is only blank space
WITH_NEWLINES = {**ESCAPES, 0x0A: "\n"}


def printable(text: str) -> str:
    """One line of text: every control character escaped, newlines included."""
    return text.translate(ESCAPES)


def printable_lines(text: str) -> str:
    """Text whose newlines are the renderer's own: everything else escaped."""
    return text.translate(WITH_NEWLINES)


class PrintableStream:
    """A text stream that escapes what is written to it (newlines kept): for renderers
    that write input text line by line and no styling of their own."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, text: str) -> int:
        return self.stream.write(printable_lines(text))

    def flush(self) -> None:
        self.stream.flush()
