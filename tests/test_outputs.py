"""SARIF against the 2.1.0 schema and GitHub's checklist; GitHub and GitLab formats."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import FIXTURES, run_cli, shared_file

DEMO = FIXTURES / "demo"


@pytest.fixture
def demo_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(DEMO, repo)
    (repo / "nginx" / "sites-enabled" / "shop.conf").write_text(
        (repo / "nginx" / "sites-enabled" / "shop.conf").read_text()
        + "# nginx-mtls-lint: disable-file=MTLS001 -- shop moves to a Tunnel this week\n")
    return repo


def sarif_of(repo: Path, *extra: str) -> dict:
    result = run_cli("--format", "sarif", *extra, "nginx/nginx.conf", cwd=repo)
    assert result.returncode == 1, result.stderr.decode()
    return json.loads(result.stdout)


def test_sarif_validates_against_the_schema_with_format_checks(demo_repo: Path):
    import jsonschema

    schema = json.loads(shared_file("data/sarif/sarif-schema-2.1.0.json").read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    checker = jsonschema.FormatChecker()
    assert "uri" in checker.checkers, "rfc3986-validator missing: URI formats unchecked"
    validator = validator_class(schema, format_checker=checker)
    for log in (sarif_of(demo_repo), sarif_of(demo_repo, "--include-suppressed")):
        errors = sorted(validator.iter_errors(log), key=lambda e: list(e.path))
        assert not errors, errors[0]


def test_sarif_meets_githubs_checklist(demo_repo: Path):
    log = sarif_of(demo_repo)
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "nginx-mtls-lint" and driver["semanticVersion"]
    # upload-sarif sets automationDetails from its `category` only when the log has none
    assert "automationDetails" not in run
    ids = [r["id"] for r in driver["rules"]]
    assert ids[:6] == ["MTLS001", "MTLS002", "MTLS003", "MTLS004", "MTLS005", "MTLS006"]
    for rule in driver["rules"]:
        assert rule["name"] and rule["shortDescription"]["text"]
        assert 0 < len(rule["fullDescription"]["text"]) <= 1024
        assert rule["help"]["text"] and rule["help"]["markdown"]
        assert rule["defaultConfiguration"]["level"] in ("error", "warning", "note")
        props = rule["properties"]
        assert props["tags"] and props["precision"] in ("very-high", "high", "medium", "low")
        if "security" in props["tags"]:
            assert 0.1 <= float(props["security-severity"]) <= 10.0
        if rule["id"].startswith("MTLS00"):
            assert f"rules/{rule['id']}.md" in rule["help"]["markdown"]
    assert run["results"]
    for result in run["results"]:
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in ("error", "warning", "note") and result["message"]["text"]
        (location,) = result["locations"]
        artifact = location["physicalLocation"]["artifactLocation"]
        assert artifact["uriBaseId"] == "%SRCROOT%" and not artifact["uri"].startswith("/")
        assert (demo_repo / artifact["uri"]).is_file()
        assert location["physicalLocation"]["region"]["startLine"] >= 1
        assert re.fullmatch(r"[0-9a-f]{64}(:\d+)?", result["partialFingerprints"]["nginxMtlsLint/v1"])
    keys = [r["partialFingerprints"]["nginxMtlsLint/v1"] for r in run["results"]]
    assert len(set(keys)) == len(keys)
    # the suppressed MTLS001 is left out by default and present, marked, on request
    assert "MTLS001" not in {r["ruleId"] for r in run["results"]}
    with_suppressed = sarif_of(demo_repo, "--include-suppressed")["runs"][0]["results"]
    (suppressed,) = [r for r in with_suppressed if r["ruleId"] == "MTLS001"]
    assert suppressed["suppressions"] == [
        {"kind": "inSource", "justification": "shop moves to a Tunnel this week"}]


def test_sarif_reports_unreadable_files_as_notifications(tmp_path: Path):
    (tmp_path / "nginx.conf").write_text("events {}\nhttp {\n  include missing.conf;\n}\n")
    result = run_cli("--format", "sarif", "nginx.conf", cwd=tmp_path)
    run = json.loads(result.stdout)["runs"][0]
    assert run["results"] == []
    (note,) = run["invocations"][0]["toolExecutionNotifications"]
    assert note["descriptor"]["id"] == "MTLS901" and note["level"] == "error"


def test_github_annotations(demo_repo: Path):
    result = run_cli("--format", "github", "nginx/nginx.conf", cwd=demo_repo)
    lines = result.stdout.decode().splitlines()
    assert lines and all(re.match(r"^::(error|warning|notice) file=[^,]+,line=\d+,title=MTLS\d{3}"
                                  r" [a-z-]+::\S", line) for line in lines)
    assert any(line.startswith("::error file=nginx/snippets/origin-pull.conf,line=2,title=MTLS002")
               for line in lines)
    assert all("\n" not in line and "%0A" in line for line in lines)  # fix on its own line


def test_gitlab_code_quality(demo_repo: Path):
    result = run_cli("--format", "gitlab", "nginx/nginx.conf", cwd=demo_repo)
    issues = json.loads(result.stdout)
    assert issues
    for issue in issues:
        assert set(issue) >= {"description", "check_name", "fingerprint", "severity", "location"}
        assert issue["severity"] in ("info", "minor", "major", "critical", "blocker")
        assert re.fullmatch(r"[0-9a-f]{64}", issue["fingerprint"])
        assert (demo_repo / issue["location"]["path"]).is_file()
        assert isinstance(issue["location"]["lines"]["begin"], int)
    assert len({i["fingerprint"] for i in issues}) == len(issues)


def test_sarif_category_only_when_given(demo_repo: Path):
    (run,) = sarif_of(demo_repo, "--sarif-category", "nginx/prod")["runs"]
    assert run["automationDetails"] == {"id": "nginx/prod/"}


def test_sarif_uris_are_relative_to_the_git_top_level_from_any_folder(demo_repo: Path):
    (demo_repo / ".git").mkdir()  # a work tree's top level, as `git rev-parse` finds it
    for cwd, target in ((demo_repo, "nginx/nginx.conf"), (demo_repo / "nginx", "nginx.conf")):
        result = run_cli("--format", "sarif", target, cwd=cwd)
        (run,) = json.loads(result.stdout)["runs"]
        assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == demo_repo.resolve().as_uri() + "/"
        uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                for r in run["results"]}
        assert "nginx/snippets/origin-pull.conf" in uris
        assert all((demo_repo / uri).is_file() for uri in uris)


def _identities(repo: Path, fmt: str) -> dict:
    out = run_cli("--format", fmt, "nginx/nginx.conf", cwd=repo).stdout
    if fmt == "gitlab":
        return {(i["check_name"], i["location"]["path"]): i["fingerprint"]
                for i in json.loads(out)}
    (run,) = json.loads(out)["runs"]
    return {(r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]):
            r["partialFingerprints"]["nginxMtlsLint/v1"] for r in run["results"]}


@pytest.mark.parametrize("fmt", ["gitlab", "sarif"])
def test_fingerprints_survive_a_comment_line_added_at_the_top(demo_repo: Path, fmt: str):
    before = _identities(demo_repo, fmt)
    for conf in (demo_repo / "nginx").rglob("*.conf"):
        conf.write_text("# a comment added at the top\n" + conf.read_text())
    after = _identities(demo_repo, fmt)
    assert before and after == before
