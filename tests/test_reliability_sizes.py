"""The reproducers of ../shared/reliability/ in reliability-io's scope, at the sizes their
README names, each in a fresh process limited to 1 GiB: a report (valid JSON), no
traceback, nothing of the file outside the tree. Bounded by a timeout against hangs, not
a speed assertion: the README's times were 13 s to hours; the benchmark measures speed."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, shared_file

pytestmark = pytest.mark.slow
GIB = 1 << 30


def limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (GIB, GIB))


def lint(folder, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nginx_mtls_lint", "--format", "json", *args],
                          cwd=folder, capture_output=True, timeout=120, preexec_fn=limited,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def reproducer(tmp_path, name: str, *gen: str):
    folder = tmp_path / name
    shutil.copytree(shared_file(f"reliability/{name}"), folder)
    shutil.copy(shared_file("reliability/client-ca.pem"), tmp_path / "client-ca.pem")
    if gen:
        subprocess.run([sys.executable, *gen], cwd=folder, check=True, timeout=60)
    return folder


@pytest.mark.parametrize("name,gen,conf", [
    ("07-pem-begins", ("gen.py", "4096"), "nginx.conf"),  # 4 MiB: the most a CA file is read
    ("08-long-token", ("gen.py", "200000"), "nginx.conf"),
    ("09-yaml-bomb", ("gen.py", "8"), "a.conf"),
    ("12-suppression-spaces", ("gen.py", "128000"), "nginx.conf"),
    ("13-server-names", ("gen.py", "many", "8000"), "nginx.conf"),
    ("13-server-names", ("gen.py", "domain", "100000"), "nginx.conf"),
])
def test_reproducer_at_full_size(tmp_path, name, gen, conf):
    folder = reproducer(tmp_path, name, *gen)
    result = lint(folder, conf)
    assert b"Traceback" not in result.stderr and b"MemoryError" not in result.stderr
    if name == "09-yaml-bomb":
        assert result.returncode == 2 and b"alias" in result.stderr
        return
    assert result.returncode in (0, 1), result.stderr.decode()
    json.loads(result.stdout)


def test_include_leak_reproducer(tmp_path):
    folder = reproducer(tmp_path, "03-include-leak")
    subprocess.run(["sh", "run.sh"], cwd=folder, capture_output=True, timeout=120,
                   env={**os.environ, "LINT": "true"})  # writes the tree and the secrets
    for args in ((), ("--read-outside-tree",)):
        result = lint(folder, *args, "nginx.conf")
        text = (result.stdout + result.stderr).decode()
        assert result.returncode == 1 and not any(
            secret in text for secret in ("FAKE", "hunter2", "root:"))
