"""Output hygiene (issue 20, item 7; defects 19 and 20): control characters from the input
are escaped in every text format; `--diff` applies with `patch -p1` whatever bytes and file
names git accepts; `-o` never writes onto a file the run reads."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import cli_in_process, run_cli

ESCAPES = (b"\x1b]", b"\x1b[2J", b"\x1b[1A", b"\x1b\\", b"\x9b")
SITE = ("server {{\n    listen 443 ssl;\n    server_name {name};\n"
        "    ssl_client_certificate ca.pem;\n    ssl_verify_client optional;\n"
        "    real_ip_header CF-Connecting-IP;\n"
        "    location / {{ proxy_pass http://127.0.0.1:8080; }}  # {comment}\n}}\n")


@pytest.fixture
def hostile_tree(tmp_path: Path) -> Path:
    """File names, a server_name and a comment carrying clear-screen, window-title and
    hyperlink sequences and a newline (../shared/reliability/20-output-escapes, small)."""
    (tmp_path / "sites").mkdir()
    files = {
        "esc\x1b]0;TITLE\x1b\\\x1b[2J.conf": ("esc.example", "plain"),
        "new\nline.conf": ("nl.example", "plain"),
        "content.conf": ('"x\x1b[1A\x1b[2K\x1b]8;;http://evil.example/\x1b\\L\x1b]8;;\x1b\\.example"',
                         "\x1b[2J\x1b[HCLEARED \u2028 \u202e"),
    }
    for name, (server, comment) in files.items():
        (tmp_path / "sites" / name).write_text(SITE.format(name=server, comment=comment))
    (tmp_path / "nginx.conf").write_text("events {}\nhttp {\n  include sites/*;\n}\n")
    return tmp_path


@pytest.mark.parametrize("args", [
    ("--color", "never"), ("--color", "always"), ("--format", "concise"),
    ("--format", "github"), ("trace", "--server", "*.example"), ("inspect", "--color", "never"),
    ("inspect", "--color", "always"),
])
def test_no_escape_sequence_of_the_input_reaches_the_terminal(hostile_tree, args):
    code, report, errors = cli_in_process(*args, "nginx.conf", cwd=hostile_tree)
    assert code in (0, 1), errors
    out = report + errors.encode()
    assert not [e for e in ESCAPES if e in out]
    assert "\u2028".encode() not in out and "\u202e".encode() not in out
    if "always" not in args:
        assert b"\x1b" not in out
    assert b"\\x1b" in report  # shown, escaped


def test_concise_is_one_line_per_finding(hostile_tree):
    _, report, _ = cli_in_process("--format", "concise", "nginx.conf", cwd=hostile_tree)
    lines = report.decode().splitlines()[:-1]  # the closing count left aside
    _, document, _ = cli_in_process("--format", "json", "nginx.conf", cwd=hostile_tree)
    import json
    assert len(lines) == len(json.loads(document)["findings"])
    assert any(line.startswith("sites/new\\x0aline.conf:") for line in lines)


def fixable(name: bytes, before: bytes = b"", after: bytes = b"") -> bytes:
    return (b"server {\n    listen 443 ssl;\n    server_name a.test;\n" + before +
            b"    ssl_client_certificate ca.pem;\n    ssl_verify_client optional;\n" + after +
            b"    real_ip_header CF-Connecting-IP;\n"
            b"    if ($ssl_client_verify != SUCCESS) { return 403; }\n"
            b"    location / { proxy_pass http://127.0.0.1:8080; }\n}\n")


@pytest.mark.parametrize("name,before,after", [
    (b"a.conf", b"    # form\x0cfeed\n", b""),
    (b"a.conf", "    # line\u2028sep \u0085 next\n".encode(), b""),
    (b"a.conf", b"    # caf\xe9\n", b"    # \xff\xfe\n"),  # not UTF-8 next to the fix
    (b"sp ace.conf", b"", b""),
    (b"t\tab.conf", b"", b""),
    (b"new\nline.conf", b"", b""),
    (b"qu\"o\\te.conf", b"", b""),
    (b"caf\xe9.conf", b"", b""),
])
def test_diff_applies_with_patch_for_any_byte_and_name(tmp_path, name, before, after):
    (tmp_path / "sites").mkdir()
    site = tmp_path / "sites" / os.fsdecode(name)
    site.write_bytes(fixable(name, before, after))
    (tmp_path / "nginx.conf").write_text("events {}\nhttp {\n  include sites/*;\n}\n")
    diff = run_cli("--diff", "nginx.conf", cwd=tmp_path)
    assert diff.returncode == 1 and b"Traceback" not in diff.stderr, diff.stderr
    assert diff.stdout, diff.stderr
    if b"\xe9" in before + name:  # `-o` with bytes that are not UTF-8: the same diff
        written = run_cli("--diff", "-o", str(tmp_path / "fix.diff"), "nginx.conf",
                          cwd=tmp_path)
        assert written.returncode == 1 and (tmp_path / "fix.diff").read_bytes() == diff.stdout
    subprocess.run(["patch", "-p1", "--quiet"], input=diff.stdout, cwd=tmp_path, check=True,
                   capture_output=True, timeout=60)
    fixed = site.read_bytes()
    assert b"ssl_verify_client on;" in fixed and before in fixed and after in fixed
    code, again, _ = cli_in_process("--diff", "nginx.conf", cwd=tmp_path)
    assert code == 1 and again == b""  # nothing left to fix


def test_output_onto_a_linted_file_is_refused(tmp_path):
    (tmp_path / "sites").mkdir()
    site = tmp_path / "sites" / "a.conf"
    site.write_bytes(fixable(b"a.conf"))
    (tmp_path / "nginx.conf").write_text("events {}\nhttp {\n  include sites/*;\n}\n")
    for args in (("--diff",), ("--format", "json"), ("inspect",)):
        command = ["inspect"] if args[0] == "inspect" else list(args)
        code, _, errors = cli_in_process(*command, "-o", "sites/a.conf", "nginx.conf",
                                         cwd=tmp_path)
        assert code == 2 and "refusing to overwrite" in errors
        assert site.read_bytes() == fixable(b"a.conf")
