"""The parser hands crossplane's lexer runs of characters instead of single characters (for
speed). These tests prove the tokens, lines and errors are exactly those of one character at a
time, on generated text full of quotes, escapes and braces, and on every real file we have."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from conftest import FIXTURES, SHARED, skip_or_fail
from nginx_mtls_lint.parser import _lex_file_object, _lexer_input, parse_text


def tokens(feed: list) -> tuple[list, str | None]:
    """Every token the lexer yields, and the error it stopped with, if any."""
    out: list = []
    try:
        out.extend(_lex_file_object(feed))
    except Exception as e:  # crossplane's Lua plugin raises its own syntax errors
        return out, f"{type(e).__name__}: {e}"
    return out, None


def assert_same_tokens(text: str, chunk: int = 1 << 16) -> None:
    text = text if text.endswith("\n") else text + "\n"
    assert tokens(_lexer_input(text, chunk)) == tokens([text]), repr(text)


PIECES = st.sampled_from([
    " ", "  ", "\t", "\n", "\r\n", "\x0b", "\x1c", "\u00a0", "\u2028", "\\", "\\\n", "\\ ", '"',
    "'", '\\"', "{", "}", ";", "#", "$", "${", "${x}", "$ {", "-", "(", ")", "a", "b1", "\x00",
    "server", "location", "if", "($a", "=", "b)", "set_by_lua_block", "content_by_lua_block",
    "例え", "-- x", "--[[", "]]",
])


@settings(max_examples=int(os.environ.get("NGINX_MTLS_LINT_FUZZ_EXAMPLES", "1500")),
          deadline=None)
@given(st.lists(st.one_of(PIECES, st.text(max_size=4)), max_size=60).map("".join),
       st.sampled_from([1, 2, 3, 5, 8, 1 << 16]))
def test_runs_lex_like_single_characters(text: str, chunk: int):
    """Also when the text is cut into runs a few characters at a time (long files are)."""
    assert_same_tokens(text, chunk)


def test_text_with_lua_blocks_or_braced_variables_is_lexed_a_character_at_a_time():
    assert _lexer_input("a ${x}  b;\n") == ["a ${x}  b;\n"]
    assert _lexer_input("content_by_lua_block { x }\n") == ["content_by_lua_block { x }\n"]
    assert list(_lexer_input('a  "b\\"c";\n')) == [
        ["a", "  ", '"', "b", '\\"', "c", '"', ";", "\n"]]
    # cut every two characters, but never between a backslash and the character it escapes
    assert list(_lexer_input("ab\\\\\\;c;\n", 2)) == [
        ["ab"], ["\\\\", "\\;"], ["c", ";"], ["\n"]]


def test_a_lua_block_without_its_brace_is_a_syntax_error_not_a_crash():
    parsed = parse_text("http { server { listen 80; }\n  content_by_lua_block x;\n}\n", "f")
    assert [(e.line, e.message) for e in parsed.errors] == [
        (2, 'expected { to start Lua block; the rest of the file is not analysed')]
    assert parsed.stmts == []  # the http block was cut off: not analysed, like a truncated file


def real_files() -> list[Path]:
    roots = [FIXTURES, SHARED / "corpus"]
    return sorted(p for root in roots if root.exists() for p in root.rglob("*")
                  if p.is_file() and p.stat().st_size < 2_000_000)


def test_every_real_file_lexes_the_same():
    if not (SHARED / "corpus").exists():
        skip_or_fail(f"{SHARED / 'corpus'} is absent: the corpus is only in the development "
                     "workspace")
    files = real_files()
    assert len(files) > 300
    for path in files:
        assert_same_tokens(path.read_bytes().decode("utf-8", "replace"))


@pytest.mark.parametrize("text", [
    'a "unterminated\n b;\n', "a b\\", "# only a comment", "x ${  y;\n", "x ${y}  z;\n",
    "content_by_lua_block { a --b }\n c;\n}\n", "set_by_lua_block $a  { b }\n", "a\\\n b;\n",
    "a '\\'' b;\n", "s {\n\r\n}\n", "\ufeffa b;\n",
])
def test_edge_cases_lex_the_same(text: str):
    for chunk in (1, 2, 3, 1 << 16):
        assert_same_tokens(text, chunk)


# --------------------------------------------------------------------------- where written

def written(text: str, path: str = "f") -> list[tuple[str, str | None]]:
    """(name, the text as written per its parsed Source) of every statement, in order."""
    lines = text.split("\n")

    def get(number: int) -> str | None:
        return lines[number - 1] if 0 < number <= len(lines) else None

    found = []
    pending = list(reversed(parse_text(text, path).stmts))
    while pending:
        stmt = pending.pop()
        if stmt.name != "#":
            found.append((stmt.name, stmt.source.text(get) if stmt.column else None))
        pending.extend(reversed(stmt.block or []))
    return found


def test_statements_carry_where_they_are_written():
    text = ('server {  # c\n    listen 443 ssl; ssl_verify_client   optional;  # x\n'
            '    add_header X "a b;c" always;\n    ssl_client_certificate\n        /x.pem;\n'
            '    set_by_lua_block $x { return "1" }\n    set $a ${b}c; if ($x ~ "a\\"b") {\n'
            '    return 403; } }\n')
    assert written(text) == [
        ("server", "server {"), ("listen", "listen 443 ssl;"),
        ("ssl_verify_client", "ssl_verify_client   optional;"),
        ("add_header", 'add_header X "a b;c" always;'),
        ("ssl_client_certificate", "ssl_client_certificate\n        /x.pem;"),
        ("set_by_lua_block", 'set_by_lua_block $x { return "1" }'),
        ("set", "set $a ${b}c;"), ("if", 'if ($x ~ "a\\"b") {'), ("return", "return 403;")]
    (certificate,) = [s for s in parse_text(text, "f").stmts[0].block
                      if s.name == "ssl_client_certificate"]
    source = certificate.source
    assert (source.file, source.line, source.column, source.end_line, source.end_column) == (
        "f", 4, 5, 5, 16)


def test_without_columns_the_source_is_the_whole_line():
    """A statement rendered from a manifest sits on the field's line: that line is the text
    as the user wrote it."""
    from nginx_mtls_lint.parser import Source

    lines = ["metadata:", '    nginx.ingress.kubernetes.io/auth-tls-verify-client: "on"']
    source = Source("ingress.yaml", 2)
    assert source.text(lambda n: lines[n - 1]) == \
        'nginx.ingress.kubernetes.io/auth-tls-verify-client: "on"'


def test_every_real_statement_is_placed_where_it_is_written():
    """Columns come from one pass over each file; every statement placed is written from
    its name to its `;`, `{` (or a Lua block's `}`), and nearly all are placed."""
    if not (SHARED / "corpus").exists():
        skip_or_fail(f"{SHARED / 'corpus'} is absent: the corpus is only in the development "
                     "workspace")
    placed = total = 0
    for path in real_files():
        if path.suffix in (".pem", ".crt", ".key", ".yaml", ".yml", ".json", ".md", ".tsv"):
            continue
        for name, text in written(path.read_bytes().decode("utf-8", "replace"), str(path)):
            total += 1
            if text is not None:
                placed += 1
                assert text.lstrip("\"'").startswith(name.split("\n")[0][:20]), (path, name)
                assert text[-1] in ";{}", (path, name, text)
    assert placed >= 0.98 * total, (placed, total)


@settings(max_examples=int(os.environ.get("NGINX_MTLS_LINT_FUZZ_EXAMPLES", "1500")) // 3,
          deadline=None)
@given(st.lists(st.one_of(PIECES, st.text(max_size=4)), max_size=60).map("".join))
def test_columns_never_point_elsewhere(text: str):
    for name, source in written(text):
        if source is not None:
            assert source.lstrip("\"'").startswith(name[:1]) and source[-1] in ";{}", (
                repr(text), name, source)
