"""Issue 21: a staged rollout with a deadline. `until=YYYY-MM-DD` on a suppression (or
`off until=` in the configuration file) silences a finding until the date, saying how many
days are left and who gets in meanwhile; after it the finding is an error again and the
expired suppression is MTLS915. "Today" is injected (RuleContext.now)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from conftest import FIXTURES, lint_json, run_cli

CASE = FIXTURES / "rules" / "MTLS915" / "rollout_running_fp.conf"


def lint_on(day: str, conf: Path):
    from nginx_mtls_lint.lint import LintOptions, lint
    from nginx_mtls_lint.rules import RuleContext

    now = dt.datetime.fromisoformat(day).replace(tzinfo=dt.timezone.utc)
    return lint([str(conf)], LintOptions(context=RuleContext(now=now)))


def test_days_left_and_who_gets_in_until_the_deadline_then_an_error(tmp_path: Path):
    conf = tmp_path / "site.conf"
    conf.write_text(CASE.read_text().replace("2999-12-31", "2027-01-31"))
    result = lint_on("2027-01-21T12:00:00", conf)
    (optional,) = [f for f in result.findings if f.rule == "MTLS002"]
    assert optional.suppressed and optional.extra["rollout"] == {
        "until": "2027-01-31", "days_left": 10, "admitted": ["clients without a certificate"]}
    assert not [f for f in result.findings if f.rule in ("MTLS907", "MTLS915")]
    last_day = lint_on("2027-01-31T23:00:00", conf)
    assert [f.suppressed for f in last_day.findings if f.rule == "MTLS002"] == [True]
    after = lint_on("2027-02-01T00:30:00", conf)
    (optional,) = [f for f in after.findings if f.rule == "MTLS002"]
    assert not optional.suppressed and optional.severity == "error"
    (expired,) = [f for f in after.findings if f.rule == "MTLS915"]
    assert expired.line == 10 and "expired on 2027-01-31 (1 day ago)" in expired.message


def test_json_and_sarif_carry_the_rollout(tmp_path: Path):
    document = lint_json(str(CASE), cwd=tmp_path)
    (optional,) = [f for f in document["findings"] if f["rule"] == "MTLS002"]
    assert optional["suppressed"] and optional["rollout"]["until"] == "2999-12-31"
    assert optional["rollout"]["admitted"] == ["clients without a certificate"]
    sarif = json.loads(run_cli("--format", "sarif", "--include-suppressed", str(CASE),
                               cwd=tmp_path).stdout)
    (result,) = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "MTLS002"]
    assert result["suppressions"][0]["properties"]["rollout"]["until"] == "2999-12-31"


def test_the_configuration_file_takes_a_deadline_too(tmp_path: Path):
    conf = tmp_path / "site.conf"
    conf.write_text("\n".join(line for line in CASE.read_text().splitlines()
                              if "disable-next-line" not in line) + "\n")
    (tmp_path / ".nginx-mtls-lint.yaml").write_text("rules:\n  MTLS002: off until=2999-12-31\n")
    document = lint_json("site.conf", cwd=tmp_path)
    (optional,) = [f for f in document["findings"] if f["rule"] == "MTLS002"]
    assert optional["suppressed"] and optional["rollout"]["until"] == "2999-12-31"
    assert run_cli("site.conf", cwd=tmp_path).returncode == 0
    (tmp_path / ".nginx-mtls-lint.yaml").write_text("rules:\n  MTLS002: off until=2020-01-01\n")
    document = lint_json("site.conf", cwd=tmp_path)
    rules = {(f["rule"], f["severity"], f.get("suppressed", False))
             for f in document["findings"]}
    assert ("MTLS002", "error", False) in rules and ("MTLS915", "warning", False) in rules
    (tmp_path / ".nginx-mtls-lint.yaml").write_text("rules:\n  MTLS002: off until=someday\n")
    bad = run_cli("site.conf", cwd=tmp_path)
    assert bad.returncode == 2 and b"off until=YYYY-MM-DD" in bad.stderr


def test_an_unreadable_deadline_is_a_malformed_suppression(tmp_path: Path):
    conf = tmp_path / "site.conf"
    conf.write_text(CASE.read_text().replace("until=2999-12-31", "until=2999-13-45"))
    document = lint_json("site.conf", cwd=tmp_path)
    (bad,) = [f for f in document["findings"] if f["rule"] == "MTLS908"]
    assert "until=YYYY-MM-DD" in bad["message"]
