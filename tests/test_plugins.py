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

    # The engine calls the rule once per server: a failure on one server does not stop the
    # rule on the next, and the run reports it once, at the first server it failed on.
    (tmp_path / "two.conf").write_text(CATCH_ALL + CATCH_ALL.replace("443", "8443"))
    findings = json.loads(cli(env, "--format", "json", "two.conf", cwd=tmp_path).stdout)
    (rule,) = [f for f in findings["findings"] if "BOOM001" in f["message"]]
    assert rule["line"] == 1 and "(and 1 other subject)" in rule["message"]


SUBJECTS_CONF = """\
events {}
http {
    server { listen 443 ssl; server_name a.example; }
    server { listen 443 ssl; server_name b.example; }
    server { listen 80; server_name c.example; }
}
stream {
    server { listen 8443 ssl; proxy_pass 127.0.0.1:9000; }
}
"""


def test_engine_calls_each_check_method_once_per_subject(tmp_path: Path):
    """A rule defines the check methods it needs; the engine hands each its subjects."""
    from nginx_mtls_lint.lint import LintOptions, lint
    from nginx_mtls_lint.rules import Rule

    seen: list[tuple[str, str]] = []

    class Every(Rule):
        """Records what it is given."""

        id, name = "TEST001", "records-subjects"

        def check(self, config, ctx):
            seen.append(("check", os.path.basename(config.tree.root)))
            return ()

        def check_tls_server(self, server, ctx):
            seen.append(("tls", server.label))
            return ()

        def check_server(self, server, ctx):
            seen.append(("http", server.label))
            return ()

        def check_stream_server(self, server, ctx):
            seen.append(("stream", server.file.rsplit("/", 1)[-1] + f":{server.line}"))
            return ()

        def check_socket(self, socket, config, ctx):
            seen.append(("socket", socket.name))
            return ()

        def check_stream_socket(self, socket, config, ctx):
            seen.append(("stream socket", socket.name))
            return ()

    conf = tmp_path / "nginx.conf"
    conf.write_text(SUBJECTS_CONF)
    result = lint([str(conf)], LintOptions(rules=[Every]))
    assert not [f for f in result.findings if f.rule == "MTLS909"]
    assert sorted(seen) == sorted([
        ("check", "nginx.conf"),
        ("tls", "a.example"), ("tls", "b.example"), ("tls", "c.example"),
        ("http", "a.example"), ("http", "b.example"), ("http", "c.example"),
        ("tls", "stream server at " + str(conf) + ":8"), ("stream", "nginx.conf:8"),
        ("socket", "0.0.0.0:443"), ("socket", "0.0.0.0:80"),
        ("stream socket", "0.0.0.0:8443")])


def test_a_subject_that_raises_does_not_stop_the_rule_on_the_others(tmp_path: Path):
    from nginx_mtls_lint.lint import LintOptions, lint
    from nginx_mtls_lint.rules import Rule

    class FailsOnA(Rule):
        """Raises on a.example, reports the others."""

        id, name, severity = "TEST002", "fails-on-a", "warning"

        def check_server(self, server, ctx):
            if "a.example" in server.names:
                raise ValueError("bad subject")
            yield self.finding(server.stmt, f"{server.label} seen.", None, server)

    conf = tmp_path / "nginx.conf"
    conf.write_text(SUBJECTS_CONF)
    result = lint([str(conf)], LintOptions(rules=[FailsOnA]))
    assert sorted((f.rule, f.line) for f in result.findings) == [
        ("MTLS909", 3), ("TEST002", 4), ("TEST002", 5)]
    crash = next(f for f in result.findings if f.rule == "MTLS909")
    assert "ValueError: bad subject while checking a.example;" in crash.message


@pytest.fixture(scope="module")
def hostile_env(tmp_path_factory) -> dict:
    return install("hostile_plugin", tmp_path_factory.mktemp("hostile"))


@pytest.mark.parametrize("mode,severity,failure", [
    ("exit", "warning", "SystemExit"),  # sys.exit(0) in a check: the run went on with exit 0
    ("import-exit", "warning", "SystemExit"),  # ... and at import
    ("print", "warning", None),  # print() to stdout: the JSON no longer parsed
    ("import-print", "warning", None),
    ("os-write", "warning", None),  # os.write(1, ...): under print()'s redirection
    ("import-os-write", "warning", None),
    ("yield-str", "warning", "not a Finding"),
    ("finding", "critical", "declares severity 'critical'"),
])
def test_a_misbehaving_plugin_is_contained(hostile_env, tmp_path, mode, severity, failure):
    (tmp_path / "a.conf").write_text("server {\n    listen 443 ssl;\n    server_name a.test;\n"
                                     "    real_ip_header CF-Connecting-IP;\n"
                                     "    location / { proxy_pass http://127.0.0.1:8080; }\n}\n")
    env = {**hostile_env, "HOSTILE": mode, "HOSTILE_SEVERITY": severity}
    documents = {}
    for fmt in ("json", "sarif"):
        result = cli(env, "--format", fmt, "a.conf", cwd=tmp_path)
        assert result.returncode == 1 and b"Traceback" not in result.stderr
        documents[fmt] = json.loads(result.stdout)
    findings, document = documents["json"]["findings"], documents["sarif"]
    assert "MTLS001" in [f["rule"] for f in findings]  # the run's own findings are kept
    crashes = [f["message"] for f in findings if f["rule"] == "MTLS909"]
    if failure is None:  # what it printed went to stderr, next to the report
        assert not crashes
        assert b"debug: checking" in result.stderr or b"hello on import" in result.stderr
    else:
        assert len(crashes) == 1 and failure in crashes[0]
    assert document["runs"][0]["results"]
