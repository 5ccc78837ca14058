"""pcre.py against PCRE2 itself: every pattern we translate matches what PCRE2 matches (same
span, same captures) on the same subjects; every pattern PCRE2 refuses we refuse too.

PCRE2 is the `pcre2` binding from PyPI (a test dependency), run on bytes without UTF, as nginx
runs it. The patterns are generated from a grammar of the syntax nginx configurations use.
"""

from __future__ import annotations

import random
import tracemalloc

import pytest

from nginx_mtls_lint import pcre

from conftest import skip_or_fail

try:
    import pcre2  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - the test extra installs it
    pcre2 = None

# What issue 20 (defect 1) found unread: each must now be read, with PCRE's meaning.
ISSUE_CONSTRUCTS = [
    r"^/(?:api|v2)/", r"^/(?<t>api)/", r"^/(?P<t>api)/", r"^/(?'t'api)/", r"^/[[:alpha:]]+$",
    r"^/(?>api|v2)/", r"^/a++b", r"^/x(?i)ADMIN|other", r"^/api\z", r"^/api\Z", r"\A/api",
    r"^/a\Kpi", r"^/\Q.git\E", r"^/\x{41}pi", r"^/(?|api|v2)/", r"^/\h?api",
    r"^/(?<n>a)\k<n>", r"^/(a)\g{-1}", r"^/[\w.-]+\.php$", r"^/[^[:space:]]+$",
]
SUBJECTS = ["", "/", "/api/", "/API/", "/v2/", "/aapi", "/aab", "/xadmin", "/xADMIN", "/other",
            "/OTHER", "/api", "/api\n", "/.git", "/Api", "/ api", "/\tapi", "/aa", "/a-b.php",
            "/a b", "/\xa0api", "/\x0bapi"]

ATOMS = ["a", "b", "A", "/", r"\.", ".", "-", r"\d", r"\w", r"\s", r"\W", r"\h", r"\H", r"\v",
         r"\N", "[a-c]", "[^a]", "[[:alpha:]]", "[[:digit:]_]", "[[:^digit:]]", r"[\w-]",
         r"[]a]", r"[\h/]", r"\x{41}", r"\x62", r"\Q.a\E", r"\e", r"\cA", r"\o{101}", r"\101",
         "^", "$", r"\z", r"\Z", r"\A", r"\b", r"\B", r"\K", "{", "}", "a{,2}", "#", " "]
QUANTIFIERS = ["*", "+", "?", "{2}", "{1,3}", "{2,}", "*?", "+?", "??", "*+", "++", "?+",
               "{1,2}+", "{0,}?"]
GROUPS = ["({})", "(?:{})", "(?<n{n}>{})", "(?'n{n}'{})", "(?P<n{n}>{})", "(?>{})",
          "(?|{}|{})", "(?i:{})", "(?-i:{})", "(?s:{})", "(?=/{})", "(?!{})", "(?<=a)",
          "(?<!b)", "(?#note)", "(?i){}", "(?-i){}", "(?m){}", "({}|{})", "{}|{}",
          r"(?x){}", "(?U){}", "(*UTF)", r"(?1)", "(?R)"]


PCRE2_ALT_BSUX = 0x2  # pcre2.h


def pcre2_compile(pattern: str, ignore_case: bool):
    """The pattern as nginx's PCRE2 compiles it: bytes, no UTF, and without the binding's
    forced PCRE2_ALT_BSUX (which reads \\x{41} as JavaScript does)."""
    flags = pcre2.RegexFlag(pcre2.I if ignore_case else 0)
    code = pcre2._cy.compile(pattern.encode("latin-1"), int(flags), PCRE2_ALT_BSUX)
    return pcre2.Pattern(code, pattern.encode("latin-1"), flags, True, None)


def need_pcre2():
    if pcre2 is None:
        skip_or_fail("the pcre2 binding is not installed (pip install -e '.[test]')")


def generate(rng: random.Random, depth: int = 0) -> str:
    parts = []
    for _ in range(rng.randint(1, 3)):
        if depth < 3 and rng.random() < 0.35:
            shape = rng.choice(GROUPS)
            name = str(rng.randint(0, 10**6))
            fill = [generate(rng, depth + 1) for _ in range(shape.count("{}"))]
            part = shape.replace("{n}", name).format(*fill)
        else:
            part = rng.choice(ATOMS)
        if rng.random() < 0.3:
            part += rng.choice(QUANTIFIERS)
        parts.append(part)
    if rng.random() < 0.1:
        parts.append(rng.choice([r"\1", r"\k<n1>", r"\g{-1}", r"\g1", r"\12"]))
    return "".join(parts)


def subjects_for(pattern: str, rng: random.Random) -> list[str]:
    found = list(SUBJECTS)
    for made in (pcre.example(pattern), pcre.exempt_example(pattern)):
        if made is not None:
            found += [made, made.upper(), made + "\n", made[1:], made + "a"]
    alphabet = "aAbB/.1 _-\n\t\xa0\x1b\x01x"
    found += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
              for _ in range(12)]
    return found


def spans(match, groups: int, whole: bool) -> list[tuple[int, int]] | None:
    """Where the match and each group are; the whole match only with `whole` (\\K moves its
    start, and nginx never reads it: captures are $1..$9 and names)."""
    if match is None:
        return None
    return [match.span(i) for i in range(0 if whole else 1, groups + 1)]


def agree(pattern: str, ignore_case: bool, rng: random.Random) -> str | None:
    """None when we agree with PCRE2 on `pattern`; else what differs."""
    try:
        theirs = pcre2_compile(pattern, ignore_case)
    except Exception:  # noqa: BLE001 - the binding raises its own error types
        theirs = None
    ours = pcre.compile(pattern, ignore_case)
    if theirs is None:
        return None if ours is None else "PCRE2 refuses it, we read it"
    if ours is None:
        return None  # a faithful refusal: the caller says "cannot prove"
    if ours.groups != theirs.groups:
        return f"{ours.groups} groups, PCRE2 {theirs.groups}"
    for subject in subjects_for(pattern, rng):
        whole = "\\K" not in pattern
        try:
            mine = spans(ours.search(subject), ours.groups, whole)
        except pcre.Undecidable:
            continue  # a faithful refusal: too costly to run, "cannot prove"
        real = spans(theirs.search(subject.encode("latin-1")), theirs.groups, whole)
        if mine != real:
            return f"on {subject!r}: ours {mine}, PCRE2 {real}"
    return None


@pytest.mark.parametrize("pattern", ISSUE_CONSTRUCTS)
def test_the_issue_constructs_are_read_as_pcre_reads_them(pattern):
    need_pcre2()
    assert pcre.compile(pattern) is not None, pcre.unsupported(pattern)
    assert agree(pattern, False, random.Random(1)) is None
    assert agree(pattern, True, random.Random(1)) is None


def test_generated_patterns_agree_with_pcre2():
    need_pcre2()
    rng = random.Random(20)
    disagreements, translated, valid = [], 0, 0
    for _ in range(1500):
        pattern = generate(rng)
        ignore_case = rng.random() < 0.3
        why = agree(pattern, ignore_case, rng)
        if why is not None:
            disagreements.append((pattern, ignore_case, why))
        try:
            pcre2_compile(pattern, ignore_case)
        except Exception:  # noqa: BLE001
            continue
        valid += 1
        translated += pcre.compile(pattern, ignore_case) is not None
    assert disagreements == []
    # Refusing is faithful but costs precision: most of what PCRE2 accepts must be read
    # (the grammar has (?U), (?x), (?R), {,n}, verbs on purpose: those are refused).
    assert translated > valid * 0.75, (translated, valid)


@pytest.mark.parametrize("pattern", [
    "^/(unclosed", "^/a)", r"[\w-.]", "[z-a]", r"\i", "a{70000}", "[[:nope:]]", r"\x{100}", "(?<1a>x)",
])
def test_what_pcre_refuses_is_refused_with_a_reason(pattern):
    assert pcre.compile(pattern) is None
    assert pcre.unsupported(pattern)


@pytest.mark.parametrize("pattern", [r"(?R)", r"(?1)(a)", r"\p{L}", r"(*UTF)a", r"(?x) a",
                                     r"a{,3}", r"(?|(a)|(b))", r"\g<1>(a)", r"(?U)a+"])
def test_constructs_we_do_not_model_are_refused_by_name(pattern):
    assert pcre.compile(pattern) is None
    assert pcre.unsupported(pattern)


def test_an_example_of_a_huge_repeat_is_refused_in_bounded_memory():
    tracemalloc.start()
    try:
        assert pcre.example("^/((a){65535}){65535}$") is None
        assert pcre.example("^/((a){1000}){1000}$") is None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20
    assert pcre.example("^/(a){3}b$") == "/aaab"


def test_the_bounded_engine_matches_as_backtracking_does():
    """regex_vm (run for regexes whose backtracking could blow up) finds the same match and
    groups as Python's re on subjects short enough for re to be quick."""
    from nginx_mtls_lint import regex_vm
    rng = random.Random(5)
    checked = 0
    for _ in range(1500):
        pattern = generate(rng)
        regex = pcre.compile(pattern, rng.random() < 0.3)
        if regex is None:
            continue
        try:
            program = regex_vm.Program(regex.pattern, regex.flags)
        except regex_vm.Unsupported:
            continue
        for subject in subjects_for(pattern, rng):
            subject = subject[:12]
            mine = spans(regex_vm.search(program, subject), regex.groups, True)
            real = spans(regex.compiled.search(subject), regex.groups, True)
            assert mine == real, (pattern, subject, mine, real)
        checked += 1
    assert checked > 300, checked


@pytest.mark.parametrize("pattern, subject", [
    (r"^/(a+)+b$", "/" + "a" * 40),              # exponential for a backtracking engine
    (r"(.*a){12}", "a" * 11 + "b" * 40),          # polynomial of degree 12
    (r"^/(\w+\s?)*$", "/" + "word " * 30 + "!"),
])
def test_catastrophic_regexes_run_in_bounded_time(pattern, subject):
    regex = pcre.compile(pattern)
    assert regex is not None
    assert regex.search(subject) is None  # neither hangs: counted, not timed (see below)
    assert regex._assess()[0]  # sent to the linear engine


def test_a_risky_regex_the_engine_cannot_run_is_undecidable():
    regex = pcre.compile(r"^/(a+)+\1b$")  # a backreference: no linear engine
    with pytest.raises(pcre.Undecidable):
        regex.search("/" + "a" * 40)
