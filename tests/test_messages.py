"""Findings as data: a message says what and why, never where. The location of every
directive a message speaks of is a related location (console `= related:`, JSON `related`,
SARIF `relatedLocations`), so that a message reads the same wherever its file moves. Every
finding has a fix: edits (safe or unsafe), or display-only advice where no edit closes it,
shown in the console and JSON and never in `--diff` or SARIF `fixes`. Every fixture test
(rules, flow, demo, Kubernetes) asserts `not_as_data()` is empty."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import FIXTURES, MESSAGE_LOCATION, lint_in_process, not_as_data, run_cli


def test_the_location_pattern_finds_what_messages_used_to_say():
    for said in ("`ssl_verify_client optional` at snippets/origin-pull.conf:2 on",
                 "(`proxy_pass http://x` at /tmp/a/nginx.conf:10)", "the server at app.vhost:3,",
                 "the application receives $ssl_client_verify (manifest.yaml:54)"):
        assert MESSAGE_LOCATION.search(said), said
    for fine in ("shares 0.0.0.0:443 with", "[::]:443", "`proxy_pass http://127.0.0.1:8080`",
                 "upstream_balancer:80", "(GET, directly) requesting /a:1b"):
        assert not MESSAGE_LOCATION.search(fine), fine


@pytest.mark.parametrize("tree", sorted((FIXTURES / "trees").iterdir()), ids=lambda p: p.name)
def test_trees_messages_name_no_location(tree: Path):
    assert not not_as_data(lint_in_process([tree / "nginx.conf"]).findings)


def related(finding) -> set[tuple[str, int, str]]:
    return {(Path(r.file).name, r.line, r.label) for r in finding.related}


def test_the_content_served_and_the_other_server_are_related_locations(certs_dir: Path):
    def lint(case: str):
        return lint_in_process([FIXTURES / "rules" / case],
                               path_map=[("/etc/nginx/certs", str(certs_dir))]).findings

    (mtls002,) = [f for f in lint("MTLS002/optional_no_handler.conf") if f.rule == "MTLS002"]
    assert mtls002.message.startswith("`ssl_verify_client optional` on Cloudflare-fronted")
    assert ("optional_no_handler.conf", 9, "serves `proxy_pass http://127.0.0.1:8080`") \
        in related(mtls002)
    (mtls106,) = [f for f in lint("MTLS106/unprotected_copy_first.conf") if f.rule == "MTLS106"]
    assert "is answered by another server, loaded first" in mtls106.message
    assert any(line == 2 and label.startswith("answers app.example.com")
               for _, line, label in related(mtls106))
    (mtls107,) = [f for f in lint("MTLS107/trust_everyone.conf") if f.rule == "MTLS107"]
    assert mtls107.message.endswith("passes `allow 10.0.0.0/8`.")
    assert ("trust_everyone.conf", 12, "`allow 10.0.0.0/8` reads the spoofed address") \
        in related(mtls107)


def test_github_and_gitlab_show_the_related_locations():
    demo = FIXTURES / "demo"
    github = run_cli("--format", "github", "nginx/nginx.conf", cwd=demo).stdout.decode()
    # MTLS002 lists each open location of the demo's api.example.com (one cause, one finding)
    open_docs = ("Related: open: `location /docs/`: a client without a certificate (GET, "
                 "directly) gets the site's files (`root /srv/api`)")
    assert f"%0A{open_docs} (nginx/sites-enabled/api.conf:12)" in github
    issues = json.loads(run_cli("--format", "gitlab", "nginx/nginx.conf", cwd=demo).stdout)
    bodies = [i["content"]["body"] for i in issues if "content" in i]
    assert any(f"{open_docs} (" in body and "nginx/sites-enabled/api.conf:12)\n" in body
               for body in bodies)


def test_display_only_fixes_show_in_console_and_json_never_in_diff_or_sarif(tmp_path: Path):
    import shutil

    case = tmp_path / "trust_everyone.conf"
    shutil.copyfile(FIXTURES / "rules" / "MTLS107" / "trust_everyone.conf", case)
    document = json.loads(run_cli("--format", "json", case.name, cwd=tmp_path).stdout)
    (finding,) = [f for f in document["findings"] if f["rule"] == "MTLS107"]
    (fix,) = finding["fixes"]
    assert fix == {"title": finding["fix"], "applicability": "display-only", "edits": []}
    console = run_cli("--color", "never", case.name, cwd=tmp_path).stdout.decode()
    assert "fix: Trust only Cloudflare's ranges" in console
    log = json.loads(run_cli("--format", "sarif", case.name, cwd=tmp_path).stdout)
    (result,) = [r for r in log["runs"][0]["results"] if r["ruleId"] == "MTLS107"]
    assert "fixes" not in result
    advised = {(f["rule"], fix["title"]) for f in document["findings"] for fix in f["fixes"]
               if fix["applicability"] == "display-only"}
    assert advised
    offered = [fix for r in log["runs"][0]["results"] for fix in r.get("fixes", [])]
    assert all(fix["properties"]["applicability"] in ("safe", "unsafe") and
               fix["artifactChanges"] for fix in offered)
    diff = run_cli("--diff", "--unsafe-fixes", "--select", "MTLS107", case.name, cwd=tmp_path)
    assert diff.stdout == b"" and not list(tmp_path.glob("*.orig"))


def test_every_fix_of_the_demo_in_sarif_has_edits_and_display_only_ones_are_left_out():
    demo = FIXTURES / "demo"
    document = json.loads(run_cli("--format", "json", "nginx/nginx.conf", cwd=demo).stdout)
    log = json.loads(run_cli("--format", "sarif", "nginx/nginx.conf", cwd=demo).stdout)
    with_edits = sum(1 for f in document["findings"] for fix in f["fixes"] if fix["edits"])
    in_sarif = sum(len(r.get("fixes", [])) for r in log["runs"][0]["results"])
    assert all(f["fixes"] for f in document["findings"]) and with_edits == in_sarif


def test_every_format_is_one_reporter_protocol():
    """`lint --format X` for every X goes through report.reporter(X)(result, out, options)."""
    import inspect
    import io

    from nginx_mtls_lint import cli
    from nginx_mtls_lint.report import FORMATS, ReportOptions, reporter

    assert set(cli.FORMATS) == set(FORMATS)
    result = lint_in_process([FIXTURES / "demo" / "nginx" / "nginx.conf"])
    for fmt in FORMATS:
        report = reporter(fmt)
        assert list(inspect.signature(report).parameters) == ["result", "out", "options"]
        out = io.StringIO()
        report(result, out, ReportOptions(color="never"))
        assert "MTLS002" in out.getvalue(), fmt
