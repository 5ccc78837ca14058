"""A regex engine whose cost is bounded: a Pike VM (Thompson's simulation with captures, the
threads kept in priority order, so the match and its groups are the ones a backtracking engine
finds) over the parse of a translated pattern. Time is linear in the subject for a given
program: the catastrophic backtracking of `^/(a+)+b$` cannot happen.

pcre.py runs a configuration's regex here when backtracking could blow up on the URIs the
simulator makes; constructs a VM cannot run (backreferences, lookarounds, atomic groups,
possessive repeats) raise Unsupported instead, and the caller answers "cannot prove".
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

try:  # Python 3.11+
    import re._parser as sre_parse  # type: ignore[import-not-found]
    from re import _constants as C  # type: ignore[attr-defined,unused-ignore]
except ImportError:  # Python 3.10
    import sre_parse  # type: ignore[no-redef,unused-ignore]
    import sre_constants as C  # type: ignore[no-redef,unused-ignore]

MAX_PROGRAM = 20_000  # instructions, counted repeats unrolled
Instruction = tuple[Any, ...]  # ("char", test), ("split", a, b), ...
Slots = list[Any]  # a thread's capture positions (int or None)
Test = Callable[[str], bool]  # of one character


class Unsupported(ValueError):
    """The pattern has a construct the VM does not run, or is too large unrolled."""


WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
DIGIT = frozenset("0123456789")
SPACE = frozenset(" \t\n\r\f\v")
CATEGORIES = {
    C.CATEGORY_DIGIT: (DIGIT, False), C.CATEGORY_NOT_DIGIT: (DIGIT, True),
    C.CATEGORY_WORD: (WORD, False), C.CATEGORY_NOT_WORD: (WORD, True),
    C.CATEGORY_SPACE: (SPACE, False), C.CATEGORY_NOT_SPACE: (SPACE, True),
}


class Program:
    """Instructions: ("char", test), ("split", a, b) (a preferred), ("jmp", a), ("save", n),
    ("assert", kind), ("match",)."""

    def __init__(self, pattern: str, flags: int) -> None:
        self.ignore_case = bool(flags & 2)  # re.IGNORECASE
        parsed = sre_parse.parse(pattern, flags)
        self.groups = parsed.state.groups - 1
        self.groupindex = dict(parsed.state.groupdict)
        self.code: list[Instruction] = []
        self._emit(("save", 0))
        self._sequence(parsed)
        self._emit(("save", 1))
        self._emit(("match",))

    def _emit(self, instruction: Instruction) -> int:
        if len(self.code) >= MAX_PROGRAM:
            raise Unsupported("the regex is too large to run with a bounded cost")
        self.code.append(instruction)
        return len(self.code) - 1

    def _sequence(self, items: Iterable[Any]) -> None:
        for op, value in items:
            self._item(op, value)

    def _item(self, op: Any, value: Any) -> None:
        if op in (C.LITERAL, C.NOT_LITERAL, C.ANY, C.IN, C.CATEGORY):
            self._emit(("char", self._test(op, value)))
        elif op == C.SUBPATTERN:
            group, add, remove = value[0], value[1], value[2]
            outer = self.ignore_case
            self.ignore_case = (outer or bool(add & 2)) and not remove & 2  # (?i:...), (?-i:...)
            if group:
                self._emit(("save", 2 * group))
            self._sequence(value[-1])
            if group:
                self._emit(("save", 2 * group + 1))
            self.ignore_case = outer
        elif op == C.BRANCH:
            self._branch(value[1])
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT):
            self._repeat(value, greedy=op == C.MAX_REPEAT)
        elif op == C.AT:
            self._emit(("assert", value))
        elif op == C.ASSERT_NOT and list(value[1]) == [(C.AT, C.AT_BOUNDARY)]:
            self._emit(("assert", C.AT_NON_BOUNDARY))  # pcre.py's \B
        elif op == C.ASSERT and value[0] == 1 and _is_pcre_end(value[1]):
            self._emit(("assert", C.AT_END))  # pcre.py's \Z: end, or before a final newline
        else:
            raise Unsupported(f"{op} cannot run with a bounded cost")

    def _branch(self, alternatives: Any) -> None:
        jumps = []
        for index, alternative in enumerate(alternatives):
            if index < len(alternatives) - 1:
                split = self._emit(("split", 0, 0))
                self.code[split] = ("split", split + 1, None)
                self._sequence(alternative)
                jumps.append(self._emit(("jmp", None)))
                self.code[split] = ("split", split + 1, len(self.code))
            else:
                self._sequence(alternative)
        for jump in jumps:
            self.code[jump] = ("jmp", len(self.code))

    def _repeat(self, value: Any, greedy: bool) -> None:
        low, high, item = value
        for _ in range(low):
            self._sequence(item)
        if high == C.MAXREPEAT:
            start = self._emit(("split", None, None))
            self._sequence(item)
            self._emit(("jmp", start))
            self.code[start] = self._choice(start + 1, len(self.code), greedy)
            return
        ends = []
        for _ in range(high - low):
            split = self._emit(("split", None, None))
            ends.append(split)
            self._sequence(item)
        for split in ends:
            self.code[split] = self._choice(split + 1, len(self.code), greedy)

    @staticmethod
    def _choice(into: int, past: int, greedy: bool) -> Instruction:
        return ("split", into, past) if greedy else ("split", past, into)

    def _test(self, op: Any, value: Any) -> Test:
        """A function of one character."""
        fold = self.ignore_case
        if op == C.LITERAL:
            want = chr(value)
            return (lambda c: c.lower() == want.lower()) if fold else (lambda c: c == want)
        if op == C.NOT_LITERAL:
            want = chr(value)
            return (lambda c: c.lower() != want.lower()) if fold else (lambda c: c != want)
        if op == C.ANY:
            return lambda c: c != "\n"
        if op == C.CATEGORY:
            chars, negate = CATEGORIES[value]
            return lambda c: (c in chars) != negate
        return self._class(value)

    def _class(self, items: Any) -> Test:
        negate = False
        tests: list[tuple[str, Any]] = []
        for op, value in items:
            if op == C.NEGATE:
                negate = True
            elif op == C.LITERAL:
                tests.append(("in", {chr(value)}))
            elif op == C.RANGE:
                tests.append(("range", value))
            elif op == C.CATEGORY:
                tests.append(("category", CATEGORIES[value]))
            else:
                raise Unsupported(f"{op} in a class")
        fold = self.ignore_case

        def member(c: str) -> bool:
            for kind, data in tests:
                for ch in ((c, c.lower(), c.upper()) if fold else (c,)):
                    if kind == "in" and ch in data or kind == "range" and \
                            data[0] <= ord(ch) <= data[1] or kind == "category" and \
                            (ch in data[0]) != data[1]:
                        return True
            return False
        return lambda c: member(c) != negate


def _is_pcre_end(items: Iterable[Any]) -> bool:
    items = list(items)
    return len(items) == 2 and items[1] == (C.AT, C.AT_END_STRING) and \
        items[0][0] == C.MAX_REPEAT and items[0][1][:2] == (0, 1)


class VMMatch:
    """The parts of re.Match the simulator reads."""

    def __init__(self, program: Program, string: str, slots: list[int | None]) -> None:
        self.string = string
        self._program = program
        self._slots = slots

    def span(self, group: int | str = 0) -> tuple[int, int]:
        index = self._index(group)
        start, end = self._slots[2 * index], self._slots[2 * index + 1]
        return (-1, -1) if start is None or end is None else (start, end)

    def start(self, group: int | str = 0) -> int:
        return self.span(group)[0]

    def end(self, group: int | str = 0) -> int:
        return self.span(group)[1]

    def group(self, group: int | str = 0) -> str | None:
        start, end = self.span(group)
        return None if start < 0 else self.string[start:end]

    def groups(self) -> tuple[str | None, ...]:
        return tuple(self.group(i) for i in range(1, self._program.groups + 1))

    def groupdict(self) -> dict[str, str | None]:
        return {name: self.group(index) for name, index in self._program.groupindex.items()}

    def _index(self, group: int | str) -> int:
        index = self._program.groupindex[group] if isinstance(group, str) else group
        if not 0 <= index <= self._program.groups:
            raise IndexError("no such group")
        return index


def search(program: Program, string: str) -> VMMatch | None:
    """The leftmost match with a backtracking engine's priorities, in time linear in
    len(string) x len(program)."""
    code = program.code
    slot_count = 2 * (program.groups + 1)
    threads: list[tuple[int, Slots]] = []
    matched: Slots | None = None
    for position in range(len(string) + 1):
        if matched is None:  # a new attempt at each position, lowest priority
            threads.append((0, [None] * slot_count))
        if not threads:
            break
        following: list[tuple[int, Slots]] = []
        seen: set[int] = set()
        char = string[position] if position < len(string) else None
        for pc, slots in threads:
            found = _advance(code, pc, slots, position, string, char, seen, following)
            if found is not None:
                matched = found
                break  # lower-priority threads lose to this match
        threads = following
    if matched is None:
        return None
    return VMMatch(program, string, matched)


def _advance(code: list[Instruction], pc: int, slots: Slots, position: int, string: str,
             char: str | None, seen: set[int],
             following: list[tuple[int, Slots]]) -> Slots | None:
    """Follow the thread's non-consuming instructions (depth-first, in priority order);
    queue those that consume `char`; return the slots of a match reached."""
    stack = [(pc, slots)]
    while stack:
        pc, slots = stack.pop()
        if pc in seen:
            continue
        seen.add(pc)
        instruction = code[pc]
        kind = instruction[0]
        if kind == "char":
            if char is not None and instruction[1](char):
                following.append((pc + 1, slots))
        elif kind == "match":
            return slots
        elif kind == "jmp":
            stack.append((instruction[1], slots))
        elif kind == "split":
            stack.append((instruction[2], slots))
            stack.append((instruction[1], slots))
        elif kind == "save":
            slots = list(slots)
            slots[instruction[1]] = position
            stack.append((pc + 1, slots))
        elif _holds(instruction[1], string, position):
            stack.append((pc + 1, slots))
    return None


def _holds(at: Any, string: str, position: int) -> bool:
    end = len(string)
    if at in (C.AT_BEGINNING, C.AT_BEGINNING_STRING):
        return position == 0
    if at == C.AT_END:
        return position == end or (position == end - 1 and string[-1] == "\n")
    if at == C.AT_END_STRING:
        return position == end
    before = position > 0 and string[position - 1] in WORD
    after = position < end and string[position] in WORD
    if at == C.AT_BOUNDARY:
        return before != after
    if at == C.AT_NON_BOUNDARY:
        return before == after
    raise Unsupported(f"{at} cannot run with a bounded cost")
