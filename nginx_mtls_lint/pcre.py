"""nginx's PCRE regexes in Python: translated where the meaning is the same, else None.

Also makes a string a regex matches (to request a regex location) and expands `$1` in a
`rewrite` replacement.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    from .regex_vm import VMMatch
    Match = Union[re.Match[str], VMMatch]

try:  # Python 3.11+
    import re._parser as sre_parse  # type: ignore[import-not-found]
    from re._constants import (  # type: ignore[import-not-found]
        ANY, AT, BRANCH, CATEGORY, IN, LITERAL, MAX_REPEAT, MIN_REPEAT, NEGATE, NOT_LITERAL,
        RANGE, SUBPATTERN, CATEGORY_DIGIT, CATEGORY_WORD, CATEGORY_SPACE, GROUPREF,
        ASSERT, ASSERT_NOT,
    )
except ImportError:  # Python 3.10
    import sre_parse  # type: ignore[no-redef,unused-ignore]
    from sre_constants import (  # type: ignore[no-redef,unused-ignore]
        ANY, AT, BRANCH, CATEGORY, IN, LITERAL, MAX_REPEAT, MIN_REPEAT, NEGATE, NOT_LITERAL,
        RANGE, SUBPATTERN, CATEGORY_DIGIT, CATEGORY_WORD, CATEGORY_SPACE, GROUPREF,
        ASSERT, ASSERT_NOT,
    )

REPEATS: tuple[object, ...] = (MAX_REPEAT, MIN_REPEAT)
ATOMIC: object = object()
try:  # Python 3.11+: atomic groups and possessive repeats (3.10 refuses them at compile)
    from re._constants import (  # type: ignore[import-not-found,unused-ignore]
        ATOMIC_GROUP, POSSESSIVE_REPEAT)
    ATOMIC, REPEATS = ATOMIC_GROUP, REPEATS + (POSSESSIVE_REPEAT,)
except ImportError:
    pass

# PCRE's POSIX classes without UTF/UCP (nginx compiles without them): ASCII only.
POSIX_CLASSES = {
    "alpha": r"a-zA-Z", "digit": r"0-9", "alnum": r"a-zA-Z0-9", "upper": r"A-Z",
    "lower": r"a-z", "space": r"\t-\r ", "xdigit": r"0-9A-Fa-f", "word": r"\w",
    "punct": r"!-/:-@\[-`{-~", "blank": r" \t", "cntrl": r"\x00-\x1f\x7f",
    "print": r" -~", "graph": r"!-~", "ascii": r"\x00-\x7f",
}
NEGATED_POSIX = {"digit": r"\D", "space": r"\S", "word": r"\W"}
# \h and \v of PCRE without UTF (Python's \v is only VT).
HSPACE, VSPACE = r"\t \xa0", r"\n\x0b\f\r\x85"
SIMPLE_ESCAPES = {"z": r"\Z", "Z": r"(?=\n?\Z)", "A": r"\A", "G": r"\A", "K": "", "B": r"(?!\b)",
                  "h": f"[{HSPACE}]", "H": f"[^{HSPACE}]", "v": f"[{VSPACE}]",
                  "V": f"[^{VSPACE}]", "R": f"(?>\\r\\n|[{VSPACE}])", "e": r"\x1b",
                  "a": r"\x07", "E": ""}
PASSED_ESCAPES = frozenset("dDsSwWbfnrt")
CLASS_ESCAPES = {"h": HSPACE, "v": VSPACE, "d": r"\d", "D": r"\D", "s": r"\s", "S": r"\S",
                 "w": r"\w", "W": r"\W", "b": r"\x08", "e": r"\x1b", "a": r"\x07",
                 "f": r"\f", "n": r"\n", "r": r"\r", "t": r"\t"}
QUANTIFIER = re.compile(r"(\d+)(?:,(\d*))?\}")  # after the "{"
GROUP_NAME = re.compile(r"[A-Za-z_]\w{0,31}")
MAX_REPEAT_COUNT = 65535  # PCRE2: "number too big in {} quantifier"
MAX_EXAMPLE = 4096  # longer generated URIs are not requests worth simulating


class Untranslatable(ValueError):
    """A PCRE construct with no faithful Python equivalent (the message names it)."""


def translate(pattern: str) -> str:
    """The pattern in Python's `re` syntax with PCRE's meaning (compile with re.ASCII, as
    nginx's PCRE runs without UTF); raises Untranslatable naming what cannot be carried."""
    return _Translator(pattern).run()


def unsupported(pattern: str) -> str | None:
    """Why the PCRE pattern cannot be evaluated here (a construct we do not model, or a regex
    PCRE itself refuses); None when `compile` translates it."""
    try:
        re.compile(translate(pattern), re.ASCII)
    except Untranslatable as error:
        return str(error)
    except (re.error, OverflowError, RecursionError) as error:
        return f"not a regex Python can run: {error}"
    return None


class Undecidable(ValueError):
    """Running the regex on this subject could cost without bound, and the bounded engine
    cannot run it: the caller answers "cannot prove"."""


class Regex:
    """A translated PCRE regex. Runs in Python's re where backtracking is bounded (no repeat
    of a repeat or of alternatives, few repeats, a short subject), else in regex_vm's linear
    engine; raises Undecidable when neither can run it with a bounded cost."""

    def __init__(self, compiled: re.Pattern[str]) -> None:
        self.compiled = compiled
        self.pattern, self.flags = compiled.pattern, compiled.flags
        self.groups, self.groupindex = compiled.groups, compiled.groupindex
        self._risk: tuple[bool, int] | None = None
        self._program: object = None

    def search(self, text: str) -> Match | None:
        nested, repeats = self._risk or self._assess()
        if not nested and repeats < 4 and (repeats < 2 or len(text) <= 256):
            return self.compiled.search(text)
        from . import regex_vm  # the rare risky regex only
        if self._program is None:
            try:
                self._program = regex_vm.Program(self.pattern, self.flags)
            except regex_vm.Unsupported as error:
                self._program = error
        if isinstance(self._program, regex_vm.Unsupported):
            raise Undecidable(f"{self._program} (its backtracking could run without bound)")
        try:
            return regex_vm.search(self._program, text)  # type: ignore[arg-type]
        except regex_vm.Unsupported as error:
            raise Undecidable(str(error)) from None

    def fullmatch(self, text: str) -> Match | None:
        """Only for short subjects (whether the regex matches the empty string)."""
        if len(text) > 64:
            raise Undecidable("fullmatch of a long subject")
        return self.compiled.fullmatch(text)

    def _assess(self) -> tuple[bool, int]:
        """(a repeat holds another repeat or alternatives, how many repeats vary)."""
        counts = [False, 0]

        def walk(items: Any, inside: bool) -> None:
            for op, value in items:
                if op in REPEATS and value[0] != value[1]:
                    counts[1] += 1
                    counts[0] = counts[0] or inside
                    walk(value[2], True)
                elif op in REPEATS:  # `(.*a){12}`: a fixed count repeats what is inside
                    walk(value[2], inside or value[1] > 1)
                elif op == BRANCH:
                    counts[0] = counts[0] or inside
                    for alternative in value[1]:
                        walk(alternative, inside)
                elif op in (SUBPATTERN, ATOMIC, ASSERT, ASSERT_NOT):
                    walk(value[-1] if op != ATOMIC else value, inside)
        try:
            walk(sre_parse.parse(self.pattern, self.flags), False)
        except (re.error, RecursionError):
            counts[0] = True
        self._risk = (bool(counts[0]), int(counts[1]))
        return self._risk


@functools.lru_cache(maxsize=4096)
def compile(pattern: str, ignore_case: bool = False) -> Regex | None:
    """The regex with the PCRE pattern's meaning, or None if we cannot be sure."""
    try:
        text = translate(pattern)
        return Regex(re.compile(text, re.ASCII | (re.IGNORECASE if ignore_case else 0)))
    except (Untranslatable, re.error, OverflowError, RecursionError):
        return None


@dataclass(slots=True)
class _Frame:
    """An open group: its option settings made mid-group, and what kind of group it is."""

    flags: list[str] = field(default_factory=list)
    reset: bool = False  # (?|...)
    lookaround: bool = False


class _Translator:
    """One left-to-right pass over a PCRE pattern, writing the Python equivalent. Option
    settings in the middle of a group (`a(?i)b|c`) become scoped groups closed at each `|`
    and at the group's end, which is how PCRE scopes them. PCRE's compile errors that Python
    would accept (a quantifier after an assertion) are raised here."""

    def __init__(self, pattern: str) -> None:
        self.src = pattern
        self.pos = 0
        self.out: list[str] = []
        self.frames: list[_Frame] = [_Frame()]
        self.groups = 0  # capturing groups opened so far
        self.repeatable = False  # whether a quantifier may follow what was written last

    def run(self) -> str:
        while self.pos < len(self.src):
            char = self.src[self.pos]
            self.pos += 1
            if char == "\\":
                self._write(self._escape())
            elif char == "[":
                self._write(self._class(), True)
            elif char == "(":
                self._open()
            elif char == ")":
                self._close()
            elif char == "|":
                flags = self.frames[-1].flags
                self._write(")" * len(flags) + "|" + "".join(f"(?{f}:" for f in flags), False)
            elif char in "*+?" or (char == "{" and QUANTIFIER.match(self.src, self.pos)):
                self._quantifier(char)
            elif char == "{":
                self._write(self._brace(), True)
            elif char in "^$":
                self._write(char, False)
            else:
                self._write("." if char == "." else re.escape(char), True)
        if len(self.frames) != 1:
            raise Untranslatable("missing closing parenthesis")
        return "".join(self.out) + ")" * len(self.frames[0].flags)

    def _write(self, text: str, repeatable: bool | None = None) -> None:
        """`repeatable`: None when the text is an escape (_escape sets it)."""
        self.out.append(text)
        if repeatable is not None:
            self.repeatable = repeatable

    def _take(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        match = pattern.match(self.src, self.pos)
        if match:
            self.pos = match.end()
        return match

    def _quantifier(self, char: str) -> None:
        if not self.repeatable:
            raise Untranslatable("quantifier does not follow a repeatable item")
        text = char
        if char == "{":
            match = self._take(QUANTIFIER)
            assert match is not None
            if any(n and int(n) > MAX_REPEAT_COUNT for n in match.groups()):
                raise Untranslatable("number too big in {} quantifier")
            text += match.group(0)
        if self.src.startswith(("?", "+"), self.pos):
            text += self.src[self.pos]
            self.pos += 1
        self._write(text, False)

    def _brace(self) -> str:
        if re.match(r",\d*\}", self.src[self.pos:self.pos + 8]):
            raise Untranslatable("`{,n}` (a quantifier from PCRE2 10.43 on, a literal before)")
        return r"\{"

    def _close(self) -> None:
        if len(self.frames) == 1:
            raise Untranslatable("unmatched closing parenthesis")
        frame = self.frames.pop()
        self._write(")" * len(frame.flags) + ")", True)

    def _open(self) -> None:
        rest = self.src[self.pos:]
        if not rest.startswith(("?", "*")):
            self._capture("(")
        elif rest.startswith("*"):
            raise Untranslatable("a backtracking verb or option `(*...)`")
        elif rest.startswith("?#"):
            end = self.src.find(")", self.pos)
            if end < 0:
                raise Untranslatable("missing ) after (?# comment")
            self.pos = end + 1
            self.repeatable = False
        else:
            self.pos += 1
            self._extension()

    def _capture(self, text: str) -> None:
        if any(frame.reset for frame in self.frames):
            raise Untranslatable("a capturing group inside `(?|...)` (branch reset)")
        self.groups += 1
        self._push(text)

    def _push(self, text: str, frame: _Frame | None = None) -> None:
        self._write(text, False)
        self.frames.append(frame or _Frame())

    def _extension(self) -> None:
        """After `(?`."""
        rest = self.src[self.pos:]
        for prefix in (":", ">", "=", "!", "<=", "<!"):
            if rest.startswith(prefix):
                self.pos += len(prefix)
                self._push("(?" + prefix, _Frame(lookaround=prefix not in ":>"))
                return
        if rest.startswith("|"):
            self.pos += 1
            self._push("(?:", _Frame(reset=True))
            return
        named = re.match(r"(?:P?<|')([^>']*)[>']", rest)
        if named and not rest.startswith("P>"):
            self._named_group(named)
            return
        if rest.startswith("P="):
            end = self.src.find(")", self.pos)
            name = self.src[self.pos + 2:end]
            self._check_name(name)
            self.pos = end + 1
            self._write(f"(?P={name})", True)
            return
        if rest.startswith("("):
            self._condition()
            return
        self._options()

    def _named_group(self, named: re.Match[str]) -> None:
        self._check_name(named.group(1))
        self.pos += named.end()
        self._capture(f"(?P<{named.group(1)}>")

    @staticmethod
    def _check_name(name: str) -> None:
        if not GROUP_NAME.fullmatch(name):
            raise Untranslatable(f"group name {name!r}")

    def _condition(self) -> None:
        match = re.match(r"\((?:(\d+)|<(\w+)>|'(\w+)'|([A-Za-z_]\w*))\)", self.src[self.pos:])
        if match is None or match.group(4) in ("R", "DEFINE"):
            raise Untranslatable("a conditional group other than on a group's capture")
        self.pos += match.end()
        reference = next(g for g in match.groups() if g)
        self._push(f"(?({reference})")

    def _options(self) -> None:
        match = re.match(r"([a-zA-Z^]*)(?:-([a-zA-Z]*))?([:)])", self.src[self.pos:])
        if match is None:
            raise Untranslatable(f"`(?{self.src[self.pos:self.pos + 2]}` (recursion, "
                                 "subroutine call, callout or other PCRE extension)")
        on, off, end = match.group(1), match.group(2) or "", match.group(3)
        if on == "R":
            raise Untranslatable("recursion `(?R)`")
        if set(on + off) - set("ims"):
            raise Untranslatable(f"the inline option `(?{match.group(0)}`")
        self.pos += match.end()
        flags = on + ("-" + off if off else "")
        if end == ":":
            self._push(f"(?{flags}:" if flags else "(?:")
        elif flags:  # to the end of the enclosing group, across its later alternatives
            self._write(f"(?{flags}:", False)
            self.frames[-1].flags.append(flags)
        else:
            self.repeatable = False

    # -- escapes ------------------------------------------------------------------------

    def _escape(self) -> str:
        if self.pos >= len(self.src):
            raise Untranslatable("\\ at end of pattern")
        char = self.src[self.pos]
        self.pos += 1
        if char in "zZAGKbB":
            if char == "K" and any(frame.lookaround for frame in self.frames):
                raise Untranslatable("\\K in a lookaround")
            self.repeatable = False
        elif char not in "EQ":
            self.repeatable = True
        if char in SIMPLE_ESCAPES:
            return SIMPLE_ESCAPES[char]
        if char in PASSED_ESCAPES:
            return "\\" + char
        if char == "N":
            if self.src.startswith("{", self.pos):
                raise Untranslatable("\\N{...}")
            return r"[^\n]"
        if char == "Q":
            quoted = self._quoted()
            self.repeatable = self.repeatable or bool(quoted)
            return re.escape(quoted)
        return self._escaped_character(char)

    def _escaped_character(self, char: str) -> str:
        if char in "kg":
            return self._backreference(char)
        if char.isdigit():
            return self._number(char)
        code = self._code(char)
        if code is not None:
            return _char(code)
        if char.isalnum():
            raise Untranslatable(f"the escape \\{char}")
        return re.escape(char)

    def _quoted(self) -> str:
        end = self.src.find("\\E", self.pos)
        end = len(self.src) if end < 0 else end
        text = self.src[self.pos:end]
        self.pos = min(end + 2, len(self.src))
        return text

    def _code(self, char: str) -> int | None:
        """The character a `\\x..`, `\\o{..}` or `\\cX` escape writes (after the letter)."""
        if char == "x":
            match = self._take(re.compile(r"\{([0-9A-Fa-f]+)\}|([0-9A-Fa-f]{0,2})"))
            assert match is not None
            code = int(match.group(1) or match.group(2) or "0", 16)
        elif char == "o":
            match = self._take(re.compile(r"\{([0-7]+)\}"))
            if match is None:
                raise Untranslatable("\\o without {")
            code = int(match.group(1), 8)
        elif char == "c":
            if self.pos >= len(self.src) or not self.src[self.pos].isascii():
                raise Untranslatable("\\c at end of pattern")
            code = ord(self.src[self.pos].upper()) ^ 0x40
            self.pos += 1
        else:
            return None
        if code > 0xFF:
            raise Untranslatable("a character code above 255 (nginx's PCRE runs without UTF)")
        return code

    def _number(self, first: str) -> str:
        """PCRE's rule: a backreference when below 10, starting with 8 or 9, or naming a group
        already opened; else up to three octal digits."""
        match = re.compile(r"\d*").match(self.src, self.pos)
        digits = first + (match.group(0) if match else "")
        number = int(digits)
        if first != "0" and (number < 10 or first in "89" or number <= self.groups):
            self.pos += len(digits) - 1
            return f"(?:\\{number})"
        octal = re.compile(r"[0-7]{0,3}").match(self.src, self.pos - 1)
        assert octal is not None
        self.pos = octal.end()
        if int(octal.group(0), 8) > 0xFF:
            raise Untranslatable("octal value is greater than \\377 in 8-bit non-UTF mode")
        return _char(int(octal.group(0), 8))

    def _backreference(self, letter: str) -> str:
        match = self._take(re.compile(r"\{([+-]?\d+|\w+)\}|<(\w+)>|'(\w+)'|([+-]?\d+)"))
        if match is None or (letter == "g" and (match.group(2) or match.group(3))):
            raise Untranslatable(f"\\{letter}{self.src[self.pos:self.pos + 3]} (a subroutine call)")
        reference = next(g for g in match.groups() if g)
        if not re.fullmatch(r"[+-]?\d+", reference):
            self._check_name(reference)
            return f"(?P={reference})"
        if letter == "k" or reference.startswith("+"):
            raise Untranslatable(f"\\{letter}{match.group(0)}")
        number = int(reference)
        number = self.groups + 1 + number if number < 0 else number
        if number < 1:
            raise Untranslatable(f"\\{letter}{match.group(0)} refers to no group")
        return f"(?:\\{number})"

    # -- character classes ---------------------------------------------------------------

    def _class(self) -> str:
        negate = self.src.startswith("^", self.pos)
        self.pos += negate
        items: list[str] = []
        first = True
        while True:
            if self.pos >= len(self.src):
                raise Untranslatable("missing terminating ] for character class")
            char = self.src[self.pos]
            if char == "]" and not first:
                self.pos += 1
                break
            first = False
            items.append(self._class_item(items, negate))
        return "[" + ("^" if negate else "") + "".join(items) + "]"

    def _class_item(self, items: list[str], negate: bool) -> str:
        posix = self._take(re.compile(r"\[:(\^?)([a-z]+):\]"))
        if posix:
            return self._not_a_range_start(self._posix(posix, items, negate))
        if self.src.startswith("[:", self.pos) or self.src.startswith("[=", self.pos) \
                or self.src.startswith("[.", self.pos):
            raise Untranslatable("a POSIX class PCRE does not know")
        low = self._class_char()
        if isinstance(low, str):
            return self._not_a_range_start(low)
        if self.src.startswith("-", self.pos) and not self.src.startswith("-]", self.pos) \
                and self.pos + 1 < len(self.src):
            saved = self.pos
            self.pos += 1
            high = self._class_char()
            if isinstance(high, int):
                if high < low:
                    raise Untranslatable("range out of order in character class")
                return _char(low) + "-" + _char(high)
            self.pos = saved
        return _char(low)

    def _not_a_range_start(self, text: str) -> str:
        """A class escape or POSIX class: PCRE2 refuses one followed by `-x`."""
        if self.src.startswith("-", self.pos) and not self.src.startswith("-]", self.pos):
            raise Untranslatable("invalid range in character class")
        return text

    def _posix(self, posix: re.Match[str], items: list[str], negate: bool) -> str:
        name = posix.group(2)
        if name not in POSIX_CLASSES:
            raise Untranslatable(f"unknown POSIX class name [:{name}:]")
        if not posix.group(1):
            return POSIX_CLASSES[name]
        if name in NEGATED_POSIX:
            return NEGATED_POSIX[name]
        raise Untranslatable(f"the negated POSIX class [:^{name}:]")

    def _class_char(self) -> int | str:
        """One character of a class (its code), or a class escape (its Python text)."""
        char = self.src[self.pos]
        self.pos += 1
        if char != "\\":
            return ord(char)
        if self.pos >= len(self.src):
            raise Untranslatable("\\ at end of pattern")
        char = self.src[self.pos]
        self.pos += 1
        if char in CLASS_ESCAPES:
            return CLASS_ESCAPES[char]
        if char == "Q":
            return "".join(_char(ord(c)) for c in self._quoted())
        if char == "E":
            return ""
        if char.isdigit():
            match = self._take(re.compile(r"[0-7]{0,2}"))
            return int(char + (match.group(0) if match else ""), 8) if char in "01234567" \
                else ord(char)
        code = self._code(char)
        if code is not None:
            return code
        if char.isalnum():
            raise Untranslatable(f"the escape \\{char} in a character class")
        return ord(char)


def _char(code: int) -> str:
    """A character written so that no regex context reads it as syntax."""
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 \
        else f"\\U{code:08x}"


def expand(replacement: str, match: Match) -> str:
    """`$1`..`$9` of a rewrite replacement."""
    def group(m: re.Match[str]) -> str:
        index = int(m.group(1))
        try:
            return match.group(index) or ""
        except IndexError:
            return ""
    return re.sub(r"\$(\d)", group, replacement)


@functools.lru_cache(maxsize=4096)
def example(pattern: str) -> str | None:
    """A short string the regex matches, starting with "/" where it can; None if we cannot
    make one (or only one longer than MAX_EXAMPLE)."""
    compiled = compile(pattern)
    if compiled is None:
        return None
    try:
        text = _Generator().run(sre_parse.parse(compiled.pattern, compiled.flags))
    except (ValueError, TypeError, RecursionError, AttributeError, KeyError):
        return None
    try:
        for candidate in (text, "/" + text.lstrip("/"), "/" + text):
            if candidate.startswith("/") and compiled.search(candidate):
                return candidate
    except Undecidable:
        pass
    return None


def exempt_example(pattern: str) -> str | None:
    """A string starting with "/" that a negative lookahead keeps the regex from matching
    (`^/(?!\\.well-known)(.*)`: "/.well-known..."), the URIs a rewrite leaves alone; None when
    the regex has no such lookahead or we cannot make one."""
    compiled = compile(pattern) if "(?!" in pattern else None
    if compiled is None:
        return None
    try:
        text = _Generator(lookahead=True).run(sre_parse.parse(compiled.pattern, compiled.flags))
    except (ValueError, TypeError, RecursionError, AttributeError, KeyError):
        return None
    try:
        return text if text.startswith("/") and not compiled.search(text) else None
    except Undecidable:
        return None


class _Generator:
    """A string the parsed regex matches, never longer than MAX_EXAMPLE (a repeat is checked
    before it is multiplied out); with `lookahead`, one that each negative lookahead matches
    in its place (so that the regex does not)."""

    def __init__(self, lookahead: bool = False) -> None:
        self.lookahead = lookahead
        self.captured: dict[int, str] = {}

    def run(self, parsed: Any) -> str:
        return self._sequence(parsed, 0)

    def _sequence(self, parsed: Any, depth: int) -> str:
        if depth > 50:
            raise ValueError("too deep")
        out: list[str] = []
        for op, value in parsed:
            out.append(self._item(op, value, depth))
        text = "".join(out)
        if len(text) > MAX_EXAMPLE:
            raise ValueError("example too long")
        return text

    def _item(self, op: Any, value: Any, depth: int) -> str:
        if op in (LITERAL, NOT_LITERAL, ANY, IN, CATEGORY):
            return _character(op, value)
        if op in REPEATS:
            low, _high, item = value
            count = max(low, 1) if low == 0 and _is_path_char(item) else low
            once: str = self._sequence(item, depth + 1) if count else ""
            if len(once) * count > MAX_EXAMPLE:
                raise ValueError("example too long")
            return once * int(count)
        if op == SUBPATTERN:
            text = self._sequence(value[-1], depth + 1)
            if value[0]:
                self.captured[value[0]] = text
            return text
        if op == ATOMIC:
            return self._sequence(value, depth + 1)
        if op == BRANCH:
            return self._sequence(value[1][0], depth + 1)
        if op == ASSERT_NOT and self.lookahead and value[0] == 1:
            return _Generator().run(value[1])
        if op in (AT, ASSERT, ASSERT_NOT):
            return ""
        if op == GROUPREF:
            return self.captured[value]  # KeyError: a forward reference
        raise ValueError(str(op))


def _character(op: Any, value: Any) -> str:
    if op == LITERAL:
        return chr(value)
    if op == NOT_LITERAL:
        return "a" if chr(value) != "a" else "b"
    if op == IN:
        return _pick(value)
    if op == CATEGORY:
        return _category(value)
    return "a"  # ANY


def _is_path_char(item: Any) -> bool:
    return len(item) == 1 and item[0][0] in (ANY, IN, NOT_LITERAL, CATEGORY)


def _category(value: Any) -> str:
    if value == CATEGORY_DIGIT:
        return "1"
    if value == CATEGORY_WORD:
        return "a"
    if value == CATEGORY_SPACE:
        return " "
    return "a"


def _pick(items: Any) -> str:
    negate = any(op == NEGATE for op, _ in items)
    if negate:
        excluded: set[str] = set()
        for op, value in items:
            if op == LITERAL:
                excluded.add(chr(value))
            elif op == RANGE:
                excluded.update(chr(c) for c in range(value[0], min(value[1], value[0] + 300) + 1))
        for candidate in "abcxyz019":
            if candidate not in excluded:
                return candidate
        raise ValueError("no character")
    for op, value in items:
        if op == LITERAL:
            return chr(value)
        if op == RANGE:
            return chr(value[0])
        if op == CATEGORY:
            return _category(value)
    raise ValueError("empty class")
