"""The pre-commit hook, for real: `pre-commit try-repo` against this project."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow

NGINX_CONF = "events {}\nhttp {\n    include sites-enabled/*.conf;\n}\n"
CLEAN = "server {\n    listen 443 ssl;\n    server_name clean.example.com;\n}\n"
LEGACY = ("server {\n    listen 443 ssl;\n    server_name legacy.example.com;\n"
          "    real_ip_header CF-Connecting-IP;\n    ssl_verify_client off;\n}\n")
BAD = ("server {\n    listen 443 ssl;\n    server_name shop.example.com;\n"
       "    real_ip_header CF-Connecting-IP;\n"
       "    location / {\n        proxy_pass http://127.0.0.1:8080;\n    }\n}\n")


def test_precommit_hook_fails_a_bad_commit_and_passes_a_good_one(tmp_path: Path):
    repo = tmp_path / "config-repo"
    (repo / "nginx" / "sites-enabled").mkdir(parents=True)
    (repo / "nginx" / "nginx.conf").write_text(NGINX_CONF)
    (repo / "nginx" / "sites-enabled" / "clean.conf").write_text(CLEAN)
    (repo / "nginx" / "sites-enabled" / "legacy.conf").write_text(LEGACY)
    (repo / "README.md").write_text("not nginx\n")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-cache"),
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(args, cwd=repo, env=env, capture_output=True, text=True,
                              timeout=600)

    def try_repo(*args: str) -> subprocess.CompletedProcess:
        return run(sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "nginx-mtls-lint",
                   "--verbose", *args)

    run("git", "init", "-q")
    run("git", "add", "-A")
    run("git", "commit", "-qm", "base")

    # Only clean.conf changed: its tree is linted whole, but legacy.conf's finding is not its
    # concern, and README.md is filtered out by the hook's `files:`.
    passing = try_repo("--files", "nginx/sites-enabled/clean.conf", "README.md")
    assert passing.returncode == 0, passing.stdout + passing.stderr
    # (legacy.conf may appear as the evidence of a finding in clean.conf, not with its own)
    legacy_findings = "\nnginx/sites-enabled/legacy.conf\n"  # the file's heading
    assert "Passed" in passing.stdout and legacy_findings not in passing.stdout

    # A commit touching only other software's *.conf: the hook's `files:` leaves redis.conf
    # out, and supervisord.conf below nginx/ (selected) is skipped as not nginx, with a note.
    (repo / "redis.conf").write_text("bind 127.0.0.1\nport 6379\nsave 3600 1\n")
    (repo / "nginx" / "supervisord.conf").write_text(
        "[supervisord]\nlogfile=/var/log/supervisord.log ; main log\n")
    others = try_repo("--files", "redis.conf", "nginx/supervisord.conf")
    assert others.returncode == 0, others.stdout + others.stderr
    assert "MTLS912" in others.stdout and "redis.conf" not in others.stdout

    (repo / "nginx" / "sites-enabled" / "shop.conf").write_text(BAD)
    run("git", "add", "nginx/sites-enabled/shop.conf")
    failing = try_repo()  # the staged files
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "Failed" in failing.stdout
    assert "nginx/sites-enabled/shop.conf" in failing.stdout and "MTLS001" in failing.stdout
    assert legacy_findings not in failing.stdout
