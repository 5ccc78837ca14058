"""Turn nginx configuration text into a statement tree.

This is the only module that imports crossplane. We use its lexer (quotes, escapes,
comments, line numbers) and build the tree ourselves, iteratively, because crossplane's own
parser recurses once per nesting level, drops every statement of a file whose last statement
is unterminated, and only reads files by name (an `nginx -T` dump arrives as text).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from sys import intern
from dataclasses import dataclass, field

# pinned crossplane>=0.5.8,<0.6: the lexer's private entry point and its Lua-block plugins
from crossplane.errors import NgxParserBaseException
from crossplane.lexer import EXTERNAL_LEXERS, _lex_file_object

# Real configurations nest a handful of levels; anything deeper is hostile input. The cap keeps
# every later tree walk far from Python's recursion limit.
MAX_DEPTH = 64
SPECIAL = frozenset(("{", "}", ";"))


@dataclass(slots=True, eq=False)
class Stmt:
    """One directive (or comment, name "#") with where it was written."""

    name: str
    args: list[str]
    file: str
    line: int
    block: list["Stmt"] | None = None
    # For `include`: the statements it pulled in, in order (filled by the loader).
    included: list["Stmt"] | None = None
    end_line: int = 0  # for a block: the line of its closing "}"
    # Where the directive is written, from its name to the `;` or `{` that ends it: 1-based
    # column of the name, line and column just after the terminator (0: not known).
    column: int = 0
    stop_line: int = 0
    stop_column: int = 0

    @property
    def comment(self) -> str | None:
        return self.args[0] if self.name == "#" else None

    @property
    def source(self) -> "Source":
        return Source(self.file, self.line, self.column, self.stop_line or self.line,
                      self.stop_column)


@dataclass(frozen=True, slots=True)
class Source:
    """Where a directive is written: the file and line of its name (for a directive rendered
    from another input, a Kubernetes manifest, the line of the field it comes from), and when
    the text shows them, the column of its name and the end (line, column, exclusive) of
    the `;` or `{` that ends it; columns 0 when not known."""

    file: str
    line: int
    column: int = 0
    end_line: int = 0
    end_column: int = 0

    def text(self, lines: Callable[[int], str | None]) -> str | None:
        """The directive as the user wrote it (`lines(n)`: line n of the file): from its name
        to its terminator; without columns, the whole line (a manifest's `key: value`)."""
        if not self.column:
            line = lines(self.line)
            return line.strip() if line is not None else None
        parts = [line for n in range(self.line, self.end_line + 1)
                 if (line := lines(n)) is not None]
        if len(parts) != self.end_line - self.line + 1:
            return None
        if len(parts) == 1:
            return parts[0][self.column - 1:self.end_column - 1]
        return "\n".join([parts[0][self.column - 1:], *parts[1:-1],
                          parts[-1][:self.end_column - 1]])


@dataclass(slots=True)
class ParseError:
    line: int | None
    message: str
    too_deep: bool = False  # nesting beyond MAX_DEPTH, not a syntax error


@dataclass(slots=True)
class Parsed:
    stmts: list[Stmt] = field(default_factory=list)
    errors: list[ParseError] = field(default_factory=list)


# The lexer takes its input "character" by character, and every test it makes on one (space?
# quote? brace? backslash? newline?) gives the same answer for a run of ordinary characters or
# of blanks as for each of them, so we hand it such runs whole: a third of the time. Two places
# need single characters: the `${...}` loop (it keeps the one blank that ends it) and the
# Lua-block lexers; files with either get one character at a time. tests/test_parser.py checks
# that the tokens are the same either way.
_RUNS = re.compile(r'\\.|\n|[^\S\n]+|["\'{};#]|[^\s"\'{};#\\]+', re.S)
_CHUNK = 1 << 16  # characters cut into runs at a time: memory stays flat on a 50 MB line


def _lexer_input(text: str, chunk: int = _CHUNK) -> Iterable[Iterable[str]]:
    if "${" in text or any(name in text for name in EXTERNAL_LEXERS):
        return [text]
    return _runs(text, chunk)


def _runs(text: str, chunk: int) -> Iterator[list[str]]:
    start = 0
    while start < len(text):
        end = start + chunk
        while end < len(text) and text[end - 1] == "\\":  # never cut an escape from its char
            end += 1
        yield _RUNS.findall(text, start, end)
        start = end


def _tokens(text: str, stopped: list[ParseError]) -> Iterator[tuple[str, int, bool]]:
    """(token, line, quoted) from crossplane's lexer; a lexer error ends the stream and is
    added to `stopped`."""
    try:
        yield from _lex_file_object(_lexer_input(text))
    except NgxParserBaseException as e:  # a Lua block without its "{"
        stopped.append(ParseError(e.lineno, f"{e.strerror}; the rest of the file is not analysed"))


def looks_like_nginx(text: str, sample: int = 200) -> bool:
    """Whether a file handed over is nginx configuration at all, from its first statements'
    tokens: nginx statements end in `;` or open a `{` block, and most start with a directive
    nginx knows. redis.conf (no `;` at all) and supervisord.conf (INI sections, `;` comments)
    fail both; a broken nginx file passes and gets its parse error. Directives of common
    third-party modules count as nginx's (h5bp's `brotli_static on;` snippet)."""
    from crossplane.analyzer import DIRECTIVES  # names only: the value format varies by fork

    from .directives import known as known_directive

    statements = known = 0
    first: str | None = None
    for token, _, quoted in _tokens(text, []):
        if not quoted and token in SPECIAL:
            if token != "}" and first is not None:
                statements += 1
                known += first in DIRECTIVES or known_directive(first)
                if statements >= sample:
                    break
            first = None
        elif first is None and (quoted or not token.startswith("#")):
            first = token
    if statements == 0:
        return first is None  # empty or only comments: nothing to lint, nothing to skip
    return known * 4 >= statements


def _strip_if_parens(args: list[str]) -> list[str]:
    """`if ($a = b)` lexes as ['($a', '=', 'b)']; nginx reads the condition inside."""
    if args and args[0].startswith("(") and args[-1].endswith(")"):
        args[0] = args[0][1:].lstrip()
        args[-1] = args[-1][:-1].rstrip()
        args = [a for i, a in enumerate(args) if a or 0 < i < len(args) - 1]
    return args


# A quoted token as written (the lexer gives it without its quotes and escapes); every other
# token is written as the lexer gives it.
_QUOTED = re.compile(r""""(?:\\.|[^"\\])*"?|'(?:\\.|[^'\\])*'?""", re.S)
_BLANKS = re.compile(r"\s*")  # (matches everywhere)


def _placed(tokens: Iterable[tuple[str, int, bool]],
            text: str) -> Iterator[tuple[str, int, bool, int, int]]:
    """The lexer's tokens with where each is written: (token, line, quoted, start, end)
    offsets into `text`, found by following the tokens through it in order (one pass over
    the file, no per-directive scan). A Lua block arrives as its code, braces left out, and
    a `;` that is not written. Once a token is not where the lexer says, the offsets of the
    rest are -1."""
    offset = 0
    after_lua = False
    for token, line, quoted in tokens:
        start = end = -1
        if offset < 0:
            pass
        elif after_lua and token == ";":
            start, end, after_lua = offset - 1, offset, False  # the Lua block's "}"
        elif not quoted:  # written as given, after blanks
            start = text.find(token, offset)
            if start >= 0 and (start == offset or text[offset:start].isspace()):
                end = start + len(token)
        else:
            start = _BLANKS.match(text, offset).end()  # type: ignore[union-attr]
            after_lua = text.startswith("{" + token + "}", start)
            match = None if after_lua else _QUOTED.match(text, start)
            end = start + len(token) + 2 if after_lua else match.end() if match else -1
        if end < 0:
            start = offset = -1
        else:
            offset = end
        yield token, line, quoted, start, end


class _Lines:
    """Line and column of offsets into a text, asked in increasing order (linear)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.line = 1
        self.line_start = 0
        self.counted = 0

    def at(self, offset: int) -> tuple[int, int]:
        newlines = self.text.count("\n", self.counted, offset)
        if newlines:
            self.line += newlines
            self.line_start = self.text.rfind("\n", self.counted, offset) + 1
        self.counted = offset
        return self.line, offset - self.line_start + 1


def parse_text(text: str, path: str) -> Parsed:
    """Parse one file's text. Errors carry nginx's wording; good statements are kept."""
    out = Parsed()
    # A final comment without a newline is dropped by the lexer; the extra newline keeps it.
    stopped: list[ParseError] = []
    lexed = text if text.endswith("\n") else text + "\n"
    tokens = _placed(_tokens(lexed, stopped), lexed)
    lines = _Lines(lexed)
    stack: list[tuple[list[Stmt], Stmt | None]] = [(out.stmts, None)]
    words: list[str] = []
    word_line = 0
    word_start = -1  # the offset of the statement's first word (-1: not known)
    too_deep_reported = False
    last_line = 0

    def error(line: int | None, message: str, too_deep: bool = False) -> None:
        out.errors.append(ParseError(line, message, too_deep))

    def statement(block: list[Stmt] | None) -> Stmt:
        # Interned: a large tree repeats the same few hundred names and short values.
        name, args = intern(words[0]), [intern(a) if len(a) < 48 else a for a in words[1:]]
        if name == "if":
            args = _strip_if_parens(args)
        stmt = Stmt(name, args, path, word_line, block)
        if word_start >= 0 and stop >= 0:
            line, column = lines.at(word_start)
            if line == word_line:  # (else not where the lexer says: no columns)
                stmt.column = column
                stmt.stop_line, stmt.stop_column = lines.at(stop)
        return stmt

    current = out.stmts  # the block statements are added to (stack[-1][0])
    for token, line, quoted, start, stop in tokens:
        last_line = line
        if quoted or token not in SPECIAL:
            if quoted or token[0] != "#":
                if not words:
                    word_line, word_start = line, start
                words.append(token)
            else:  # a comment, also one between a directive's arguments (not an argument)
                current.append(Stmt("#", [token[1:]], path, line))
            continue
        if token == ";":
            if words:
                current.append(statement(None))
                words = []
            else:
                error(line, 'unexpected ";"')
        elif token == "{":
            if not words:
                error(line, 'unexpected "{"')
                words = ["{"]  # keep the braces balanced; the block is discarded below
                word_line = line
            stmt = statement([])
            words = []
            if len(stack) > MAX_DEPTH:
                if not too_deep_reported:
                    error(line, f"blocks nested deeper than {MAX_DEPTH} levels are not analysed",
                          too_deep=True)
                    too_deep_reported = True
            elif stmt.name != "{":
                current.append(stmt)
            current = stmt.block if stmt.block is not None else []
            stack.append((current, stmt))
        else:  # "}"
            if words:
                error(line, f'unexpected "}}": directive "{words[0]}" on line {word_line} is '
                            'not terminated by ";"')
                words = []
            if len(stack) == 1:
                error(line, 'unexpected "}"')
            else:
                _, closed = stack.pop()
                if closed is not None:
                    closed.end_line = line
                current = stack[-1][0]

    if stopped:  # the lexer gave up: no guesses about what the rest would have closed
        out.errors.extend(stopped)
    elif words:
        error(word_line, f'unexpected end of file, directive "{words[0]}" is not terminated by ";"')
    elif len(stack) > 1:
        opener = stack[-1][1]
        error(opener.line if opener else last_line, 'unexpected end of file, expecting "}"')
    if len(stack) > 1:
        # A block cut off by the end of the file is not analysed: half a server block would
        # give findings about directives that were simply cut away.
        outermost = stack[1][1]
        if outermost is not None and outermost in out.stmts:
            out.stmts.remove(outermost)
    elif not (words or stopped) and text.count("\n") > last_line:
        # lines after the last token
        tail = _unlexed_tail_line(text, last_line)
        if tail is not None:
            error(tail, "unexpected end of file: unterminated quoted string")
    return out


def _unlexed_tail_line(text: str, last_line: int) -> int | None:
    """The lexer stops silently inside an unterminated quote; find text it never returned."""
    lines = text.split("\n")
    for number in range(last_line + 1, len(lines) + 1):
        stripped = lines[number - 1].strip()
        if stripped and not stripped.startswith("#"):
            return number
    return None


# --------------------------------------------------------------------------- columns

@dataclass(frozen=True, slots=True)
class Span:
    """A token's place: 1-based line and column, end column exclusive (SARIF's convention)."""

    line: int
    column: int
    end_line: int
    end_column: int


def _line_tokens(lines: Callable[[int], str | None], start: int, first_column: int = 0,
                 limit: int = 200) -> Iterator[tuple[str, Span]]:
    """(token, span) from line `start` (from `first_column`, when known) on: words (quotes
    kept), `;`, `{`, `}`; comments skipped. Quoted strings may span lines. Ends at the end
    of the text or after `limit` lines."""
    number = start
    text = lines(number)
    column = max(first_column - 1, 0)
    while text is not None and number < start + limit:
        if column >= len(text):
            number += 1
            text, column = lines(number), 0
            continue
        char = text[column]
        if char.isspace():
            column += 1
        elif char == "#":
            column = len(text)
        elif char in "{};":
            yield char, Span(number, column + 1, number, column + 2)
            column += 1
        else:
            first_line, first_column = number, column
            word: list[str] = []
            quote = char if char in "\"'" else None
            if quote:
                column += 1
            while text is not None:
                if column >= len(text):
                    if not quote:
                        break
                    word.append("\n")
                    number += 1
                    text, column = lines(number), 0
                    continue
                char = text[column]
                if char == "\\" and column + 1 < len(text):
                    word.append(text[column:column + 2])
                    column += 2
                elif quote and char == quote:
                    column += 1
                    break
                elif not quote and (char.isspace() or char in "{};\"'" or char == "#"):
                    break
                else:
                    word.append(char)
                    column += 1
            yield "".join(word), Span(first_line, first_column + 1, number, column + 1)


def locate(stmt: Stmt, lines: Callable[[int], str | None]) -> list[Span] | None:
    """Where the words of a statement are written: its name, each argument, and last the
    `;` or `{` that ends it; None when the text does not show it (a changed file, an `if`
    whose parentheses the lexer split differently, a statement that starts on an earlier
    line). `lines(n)` gives line n of the statement's file. Read from the statement's column
    when the parser found it: only the statement's own words."""
    expected = [stmt.name, *stmt.args] if stmt.name != "if" else None
    previous = ";"
    tokens = _line_tokens(lines, stmt.line, stmt.column)
    pending: list[tuple[str, Span]] = []
    for token, span in tokens:
        if span.line != stmt.line and not pending:
            return None
        if not pending:
            if token == stmt.name and previous in SPECIAL:
                pending = [(token, span)]
            previous = token if token in SPECIAL else "word"
            continue
        if token in (";", "{"):
            words = [t for t, _ in pending]
            if expected is None or words == expected or [_unquote(w) for w in words] == expected:
                return [s for _, s in pending] + [span]
            pending, previous = [], token
            continue
        if token == "}":
            pending, previous = [], token
            continue
        pending.append((token, span))
    return None


def _unquote(word: str) -> str:
    return re.sub(r"\\(.)", r"\1", word) if "\\" in word else word
