"""nginx's PCRE regexes in Python: translated where the meaning is the same, else None.

Also makes a string a regex matches (to request a regex location) and expands `$1` in a
`rewrite` replacement.
"""

from __future__ import annotations

import functools
import re

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

POSIX_CLASSES = {
    "alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9", "upper": "A-Z", "lower": "a-z",
    "space": r" \t\r\n\v\f", "xdigit": "0-9A-Fa-f", "punct": r"!-/:-@\[-`{-~",
    "word": r"\w", "blank": r" \t", "cntrl": r"\x00-\x1f\x7f", "print": r" -~",
    "graph": r"!-~",
}
POSIX = re.compile(r"\[:(\^?)(\w+):\]")
# PCRE features Python's re lacks or reads differently: we do not guess at them.
UNSUPPORTED = re.compile(r"\(\?[|>R0-9+&]|\\[GKQEXRhHvVN]|\(\*|\\[pP]\{|\(\?[a-zA-Z]*-?[a-zA-Z]*:"
                         r"|\\[gk][<{']|\+\+|\*\+|\?\+|\}\+")


@functools.lru_cache(maxsize=4096)
def compile(pattern: str, ignore_case: bool = False) -> re.Pattern[str] | None:
    """The Python regex with the PCRE pattern's meaning, or None if we cannot be sure."""
    if UNSUPPORTED.search(pattern):
        return None
    text = pattern.replace("(?<", "(?P<").replace("(?P<=", "(?<=").replace("(?P<!", "(?<!")
    text = text.replace("(?'", "(?P'") if "(?'" in text else text
    if "[:" in text:
        def posix(match: re.Match[str]) -> str:
            chars = POSIX_CLASSES.get(match.group(2))
            if chars is None:
                raise ValueError(match.group(2))
            return chars
        try:
            text = POSIX.sub(lambda m: posix(m) if not m.group(1) else "\0", text)
        except ValueError:
            return None
        if "\0" in text:
            return None
    text = text.replace(r"\z", r"\Z")
    try:
        return re.compile(text, re.IGNORECASE if ignore_case else 0)
    except (re.error, OverflowError, RecursionError):
        return None


def expand(replacement: str, match: re.Match[str]) -> str:
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
    make one."""
    compiled = compile(pattern)
    if compiled is None:
        return None
    try:
        parsed = sre_parse.parse(compiled.pattern)
        text = _generate(parsed, 0)
    except (ValueError, TypeError, RecursionError, AttributeError):
        return None
    for candidate in (text, "/" + text.lstrip("/"), "/" + text):
        if candidate.startswith("/") and compiled.search(candidate):
            return candidate
    return text if compiled.search(text) and text.startswith("/") else None


def exempt_example(pattern: str) -> str | None:
    """A string starting with "/" that a negative lookahead keeps the regex from matching
    (`^/(?!\\.well-known)(.*)`: "/.well-known..."), the URIs a rewrite leaves alone; None when
    the regex has no such lookahead or we cannot make one."""
    compiled = compile(pattern) if "(?!" in pattern else None
    if compiled is None:
        return None
    try:
        text = _generate(sre_parse.parse(compiled.pattern), 0, lookahead=True)
    except (ValueError, TypeError, RecursionError, AttributeError):
        return None
    return text if text.startswith("/") and not compiled.search(text) else None


def _generate(parsed, depth: int, lookahead: bool = False) -> str:
    """A string the parsed regex matches; with `lookahead`, one that each negative lookahead
    matches in its place (so that the regex does not)."""
    if depth > 50:
        raise ValueError("too deep")
    out: list[str] = []
    for op, value in parsed:
        if op == LITERAL:
            out.append(chr(value))
        elif op == NOT_LITERAL:
            out.append("a" if chr(value) != "a" else "b")
        elif op == ANY:
            out.append("a")
        elif op == IN:
            out.append(_pick(value))
        elif op in (MAX_REPEAT, MIN_REPEAT):
            low, _high, item = value
            count = max(low, 1) if low == 0 and _is_path_char(item) else low
            out.append(_generate(item, depth + 1, lookahead) * count)
        elif op == SUBPATTERN:
            out.append(_generate(value[-1], depth + 1, lookahead))
        elif op == BRANCH:
            out.append(_generate(value[1][0], depth + 1, lookahead))
        elif op == ASSERT_NOT and lookahead and value[0] == 1:
            out.append(_generate(value[1], depth + 1))
        elif op in (AT, ASSERT, ASSERT_NOT):
            continue
        elif op == CATEGORY:
            out.append(_category(value))
        elif op == GROUPREF:
            raise ValueError("backreference")
        else:
            raise ValueError(str(op))
    return "".join(out)


def _is_path_char(item) -> bool:
    return len(item) == 1 and item[0][0] in (ANY, IN, NOT_LITERAL, CATEGORY)


def _category(value) -> str:
    if value == CATEGORY_DIGIT:
        return "1"
    if value == CATEGORY_WORD:
        return "a"
    if value == CATEGORY_SPACE:
        return " "
    return "a"


def _pick(items) -> str:
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
