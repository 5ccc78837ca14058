"""Third-party rules arrive through the entry-point group `nginx_mtls_lint.rules`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

DATA = Path(__file__).parent / "data"
CATCH_ALL = "server {\n    listen 443 ssl;\n    server_name _;\n}\n"


def install(plugin: str, target: Path) -> dict:
    """pip-install a plugin from tests/data into its own folder; return an environment that
    sees it (the test environment itself is left untouched)."""
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--target", str(target), str(DATA / plugin)],
                   check=True, capture_output=True, timeout=300)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(ROOT)])}


def cli(env: dict, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nginx_mtls_lint", *args], cwd=cwd, env=env,
                          capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory) -> dict:
    return install("example_plugin", tmp_path_factory.mktemp("site"))


def test_plugin_rule_in_every_output_format(plugin_env: dict, tmp_path: Path):
    (tmp_path / "a.conf").write_text(CATCH_ALL)
    outputs = {fmt: cli(plugin_env, "--format", fmt, "a.conf", cwd=tmp_path)
               for fmt in ("console", "json", "sarif", "github", "gitlab")}
    assert all(r.returncode == 1 for r in outputs.values()), outputs["console"].stderr
    assert "ACME001" in outputs["console"].stdout.decode()
    (finding,) = json.loads(outputs["json"].stdout)["findings"]
    assert (finding["rule"], finding["line"], finding["severity"]) == ("ACME001", 1, "warning")
    run = json.loads(outputs["sarif"].stdout)["runs"][0]
    assert "ACME001" in [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert [r["ruleId"] for r in run["results"]] == ["ACME001"]
    assert outputs["github"].stdout.decode().startswith(
        "::warning file=a.conf,line=1,title=ACME001 catch-all-server-name::")
    assert json.loads(outputs["gitlab"].stdout)[0]["check_name"] == "ACME001 catch-all-server-name"


def test_rules_lists_plugins_with_origin_and_explain_prints_their_page(plugin_env, tmp_path):
    listing = cli(plugin_env, "rules", cwd=tmp_path).stdout.decode()
    (line,) = [row for row in listing.splitlines() if row.startswith("ACME001")]
    assert "plugin:acme-nginx-rules" in line
    assert "MTLS001" in listing and "built-in" in listing
    page = cli(plugin_env, "explain", "catch-all-server-name", cwd=tmp_path).stdout.decode()
    assert page.startswith("# ACME001 catch-all-server-name") and "## Fix" in page


def test_plugin_rules_can_be_configured_and_suppressed(plugin_env, tmp_path):
    (tmp_path / "a.conf").write_text(
        CATCH_ALL.replace("server {", "server {  # nginx-mtls-lint: disable=catch-all-server-name"
                          " -- the default server answers for unknown names")
        + CATCH_ALL.replace("443", "8443"))
    (tmp_path / ".nginx-mtls-lint.yaml").write_text("rules:\n  ACME001: error\n")
    document = json.loads(cli(plugin_env, "--format", "json", "a.conf", cwd=tmp_path).stdout)
    assert [(f["rule"], f["line"], f["severity"], bool(f.get("suppressed")))
            for f in document["findings"]] == [("ACME001", 1, "error", True),
                                               ("ACME001", 5, "error", False)]


def test_colliding_plugin_is_refused(tmp_path_factory, tmp_path):
    env = install("colliding_plugin", tmp_path_factory.mktemp("collide"))
    (tmp_path / "a.conf").write_text(CATCH_ALL)
    result = cli(env, "a.conf", cwd=tmp_path)
    assert result.returncode == 2
    error = result.stderr.decode()
    assert "collides with built-in rule MTLS001" in error and "Traceback" not in error


def test_rule_that_raises_and_plugin_that_fails_to_import_are_mtls909(tmp_path_factory,
                                                                       tmp_path):
    env = install("crashing_plugin", tmp_path_factory.mktemp("crash"))
    conf = ROOT / "fixtures" / "rules" / "MTLS002" / "optional_no_handler.conf"
    result = cli(env, "--format", "json", str(conf), cwd=tmp_path)
    assert result.returncode == 1 and b"Traceback" not in result.stderr
    findings = json.loads(result.stdout)["findings"]
    assert "MTLS002" in {f["rule"] for f in findings}  # the built-ins still ran
    crashed = [f for f in findings if f["rule"] == "MTLS909"]
    (rule,) = [f for f in crashed if "BOOM001" in f["message"]]
    assert (rule["name"], rule["line"]) == ("rule-crashed", 1)
    assert "KeyError" in rule["message"] and "api.example.com" in rule["message"]
    (plugin,) = [f for f in crashed if "'broken'" in f["message"]]
    assert "ModuleNotFoundError" in plugin["message"] and plugin["file"] is None
    assert cli(env, "--exit-zero", str(conf), cwd=tmp_path).returncode == 0
    sarif = json.loads(cli(env, "--format", "sarif", str(conf), cwd=tmp_path).stdout)
    notes = sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert sum(n["descriptor"]["id"] == "MTLS909" for n in notes) == 2
