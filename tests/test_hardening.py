"""Hostile and odd input: every run finishes with the exact diagnostic, never a traceback."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import lint_json, run_cli

CF_SERVER = ("server {{\n    listen 443 ssl;\n    server_name {name};\n"
             "    real_ip_header CF-Connecting-IP; root /var/www/site;\n"
             "    ssl_client_certificate {ca};\n    ssl_verify_client on;\n}}\n")


@pytest.mark.parametrize("kind,problem", [
    ("fifo", "is not a regular file"),
    ("dev-zero", "is not a regular file"),
    ("huge", "is larger than 4 MiB"),
])
def test_ca_path_that_is_endless_or_huge(tmp_path: Path, kind, problem):
    ca = tmp_path / "ca.pem"
    if kind == "fifo":
        os.mkfifo(ca)
    elif kind == "dev-zero":
        ca.symlink_to("/dev/zero")
    else:
        with open(ca, "wb") as f:
            f.truncate(5 * 1024 * 1024)
    (tmp_path / "a.conf").write_text(CF_SERVER.format(name="a.test", ca=ca))
    result = run_cli("--format", "json", "a.conf", cwd=tmp_path, timeout=60)
    document = json.loads(result.stdout)
    if kind == "dev-zero":  # a checkout's link out of it is not followed onto this machine
        (finding,) = [f for f in document["findings"] if f["rule"] == "MTLS911"]
        assert finding["line"] == 5
        return
    (finding,) = [f for f in document["findings"] if f["rule"] == "MTLS003"]
    assert finding["line"] == 5
    assert problem in finding["message"]


def test_unicode_server_names_survive_every_output(tmp_path: Path):
    (tmp_path / "u.conf").write_text(
        CF_SERVER.format(name="bücher.example 例え.jp", ca="/nonexistent/ca.pem")
        .replace("    ssl_client_certificate /nonexistent/ca.pem;\n    ssl_verify_client on;\n",
                 ""), encoding="utf-8")
    document = lint_json("u.conf", cwd=tmp_path)
    assert document["findings"][0]["server"]["names"] == ["bücher.example", "例え.jp"]
    for fmt in ("console", "sarif", "github", "gitlab"):
        result = run_cli("--format", fmt, "u.conf", cwd=tmp_path)
        assert result.returncode == 1 and "例え.jp" in result.stdout.decode("utf-8")
    inspect = json.loads(run_cli("inspect", "--format", "json", "u.conf", cwd=tmp_path).stdout)
    assert inspect["servers"][0]["names"] == ["bücher.example", "例え.jp"]


@pytest.mark.slow
def test_include_glob_matching_20000_files(tmp_path: Path):
    sites = tmp_path / "sites"
    sites.mkdir()
    for i in range(20000):
        (sites / f"{i:05d}.conf").write_text(f"server {{ listen 80; server_name s{i}.test; }}\n")
    (tmp_path / "nginx.conf").write_text("events {}\nhttp {\n  include sites/*.conf;\n}\n")
    document = lint_json("nginx.conf", cwd=tmp_path)
    assert document["findings"] == []
    assert document["summary"]["servers"] == 20000 and document["summary"]["files"] == 20001


@pytest.mark.slow
def test_fifty_megabyte_config(tmp_path: Path):
    block = CF_SERVER.format(name="big.test", ca="missing-ca.pem")
    count = 50 * 1024 * 1024 // len(block) + 1
    with open(tmp_path / "big.conf", "w") as f:
        for _ in range(count):
            f.write(block)
    result = run_cli("--format", "json", "big.conf", cwd=tmp_path, timeout=600)
    assert result.returncode == 1 and b"Traceback" not in result.stderr
    document = json.loads(result.stdout)
    assert document["summary"]["servers"] == count
    # the CA file is inspected once, and its finding reported once, naming every server
    (finding,) = document["findings"]
    assert finding["rule"] == "MTLS003" and len(finding["servers"]) == count


def test_unreadable_include_as_an_unprivileged_user(tmp_path: Path):
    """chmod 000 means nothing to root (CI runs as root): run the linter as nobody then."""
    import shutil
    import subprocess
    import sys

    from conftest import ROOT

    folder = tmp_path / "tree"
    folder.mkdir()
    (folder / "nginx.conf").write_text("events {}\nhttp {\n  include secret.conf;\n}\n")
    (folder / "secret.conf").write_text("server { listen 80; }\n")
    (folder / "secret.conf").chmod(0o000)
    for path in (tmp_path, folder):
        path.chmod(0o755)
    command = [sys.executable, "-m", "nginx_mtls_lint", "--format", "json", "nginx.conf"]
    if os.geteuid() == 0:
        drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        probe = subprocess.run(drop + [sys.executable, "-c", "import crossplane, rich"],
                               capture_output=True, timeout=60,
                               env={**os.environ, "PYTHONPATH": str(ROOT)}) \
            if shutil.which("setpriv") else None
        if probe is None or probe.returncode != 0:
            pytest.skip("root cannot run this Python as nobody here (its packages are not "
                        "readable); test_unreadable_include_reported covers the logic")
        command = drop + command
    result = subprocess.run(command, cwd=folder, capture_output=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert b"Traceback" not in result.stderr, result.stderr
    document = json.loads(result.stdout)
    assert [(f["rule"], f["file"], f["line"]) for f in document["findings"]] == [
        ("MTLS904", "nginx.conf", 3)]
    assert "Permission denied" in document["findings"][0]["message"]


def test_unreadable_include_reported(tmp_path: Path, monkeypatch):
    """The same as above without dropping privileges: the read fails as for a non-root user."""
    from conftest import lint_in_process

    (tmp_path / "nginx.conf").write_text("events {}\nhttp {\n  include secret.conf;\n}\n")
    (tmp_path / "secret.conf").write_text("server { listen 80; }\n")
    real_open = os.open

    def denied(path, *args, **kwargs):
        if str(path).endswith("secret.conf"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", denied)
    result = lint_in_process([tmp_path / "nginx.conf"])
    assert [(f.rule, Path(f.file).name, f.line) for f in result.findings] == [
        ("MTLS904", "nginx.conf", 3)]
    assert "Permission denied" in result.findings[0].message
