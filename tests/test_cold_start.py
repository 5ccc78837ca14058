"""A cold process imports only what its run needs: `--version` none of the analysis, a lint
of a plain tree no YAML, Kubernetes, probe or other report formats. `benchmarks/bench.py
--cold` times it against gixy-ng; this counts modules, which no machine's speed can hide."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SHOW_MODULES = """
import contextlib, json, os, sys
from nginx_mtls_lint.cli import main
with contextlib.redirect_stdout(open(os.devnull, "w")):
    try:
        code = main(sys.argv[1:])
    except SystemExit as e:
        code = e.code
sys.__stdout__.write(json.dumps([code, sorted(sys.modules)]))
"""


def modules_of(*argv: str) -> tuple[int, set[str]]:
    done = subprocess.run([sys.executable, "-c", SHOW_MODULES, *argv], capture_output=True,
                          text=True, timeout=120, check=True)
    code, modules = json.loads(done.stdout)
    return code, set(modules)


def top(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_version_imports_no_analysis():
    code, modules = modules_of("--version")
    assert code == 0
    ours = {m for m in modules if m.startswith("nginx_mtls_lint.")}
    # report/__init__ is the table of format names (stdlib only), no reporter
    assert ours <= {"nginx_mtls_lint.cli", "nginx_mtls_lint.errors", "nginx_mtls_lint.paths",
                    "nginx_mtls_lint.report"}, ours
    assert not top(modules) & {"crossplane", "rich", "yaml", "cryptography"}


def test_lint_of_a_plain_tree_imports_only_what_it_needs(tmp_path: Path):
    (tmp_path / "nginx.conf").write_text(
        "events {}\nhttp { server { listen 80; location / { return 200 ok; } } }\n")
    code, modules = modules_of("--format", "json", str(tmp_path / "nginx.conf"))
    assert code in (0, 1)
    assert "nginx_mtls_lint.rules" in modules  # it did lint
    assert not top(modules) & {"rich", "yaml"}, top(modules) & {"rich", "yaml"}
    for unneeded in ("nginx_mtls_lint.kubernetes", "nginx_mtls_lint.probe",
                     "nginx_mtls_lint.report.sarif", "nginx_mtls_lint.report.console"):
        assert unneeded not in modules, unneeded
