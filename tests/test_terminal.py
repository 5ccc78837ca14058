"""Issue 21: what users see in a real terminal. Each command runs in a pseudo-terminal of 80
(and 200) columns, as a user's shell runs it: no line longer than the terminal, and what a
finding says folded under the finding (a hanging indent), never at column 0."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
DEMO = FIXTURES / "demo"


def in_terminal(*args: str, columns: int = 80, cwd: Path = DEMO,
                timeout: float = 120) -> tuple[int, list[str]]:
    """Run the CLI with a pseudo-terminal of `columns` columns as stdin, stdout and stderr;
    (exit code, the lines it printed, escape sequences removed)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env.update(TERM="xterm-256color", PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, "-m", "nginx_mtls_lint", *args], cwd=cwd,
                               stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif process.poll() is not None:
                break
    finally:
        if process.poll() is None:
            process.kill()
        code = process.wait(timeout=30)
        os.close(master)
    text = ANSI.sub("", b"".join(chunks).decode("utf-8", "replace"))
    return code, text.replace("\r\n", "\n").replace("\r", "").split("\n")


def widest(lines: list[str]) -> int:
    return max(len(line) for line in lines)


def test_lint_folds_each_finding_under_itself_at_80_and_200_columns():
    code, lines = in_terminal("nginx/nginx.conf")
    assert code == 1 and widest(lines) <= 80, "\n".join(lines)
    assert any(line.startswith("      7  error   MTLS001 ") for line in lines)
    head = next(i for i, line in enumerate(lines) if " MTLS001 " in line)
    # the message goes on under the severity column, not at column 0
    assert lines[head + 1].startswith(" " * 9) and lines[head + 1][9] != " "
    for line in lines:  # only file names and the summary start at column 0
        if line and not line.startswith(" "):
            assert line.startswith(("nginx/", "read:", "0 fixable", "3 errors", "note:")), line
    code, wide = in_terminal("nginx/nginx.conf", columns=200)
    assert code == 1 and widest(wide) <= 200 and len(wide) < len(lines)


def test_rules_inspect_trace_probe_fit_80_columns():
    code, lines = in_terminal("rules")
    assert code == 0 and widest(lines) <= 80, "\n".join(l for l in lines if len(l) > 80)
    summaries = " ".join(" ".join(lines).split())
    assert "holds no CA (or no CRL), or holds a private key." in summaries  # never cut
    code, lines = in_terminal("inspect", "nginx/nginx.conf")
    assert code == 0 and widest(lines) <= 80
    code, lines = in_terminal("trace", "nginx/nginx.conf", "--server", "api.example.com",
                              "--uri", "/docs/")
    assert code == 1 and widest(lines) <= 80, "\n".join(l for l in lines if len(l) > 80)
    head = next(i for i, line in enumerate(lines) if line.startswith("  a client without"))
    assert lines[head + 1].startswith("    ")  # its verdict folds under it
    code, lines = in_terminal("probe", "127.0.0.1:1", "--name", "shop.example.com",
                              "--timeout", "1", "--deadline", "10", timeout=60)
    assert code == 2 and widest(lines) <= 80, "\n".join(lines)
    assert sum("server certificate" in line for line in lines) <= 1


@pytest.mark.parametrize("args", [["--help"], ["probe", "--help"], ["trace", "--help"]])
def test_help_fits_80_columns(args):
    code, lines = in_terminal(*args)
    assert code == 0 and widest(lines) <= 80
    assert any(line.startswith("exit codes: 0") for line in lines)
