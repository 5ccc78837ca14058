"""Every case under fixtures/rules/<RULE>/ gives exactly its `# expect:` (file, line, rule) set."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import (FIXTURES, expectations, finding_set, lint_in_process, not_as_data,
                      needs_cloudflare_files, skip_or_fail, SHARED)
from nginx_mtls_lint.rules import builtin_rules

RULE_DIR = FIXTURES / "rules"
CASES = sorted(p for rule in RULE_DIR.iterdir() if rule.is_dir() for p in rule.iterdir())


def case_text(case: Path) -> str:
    files = [case] if case.is_file() else [p for p in case.rglob("*") if p.is_file()]
    return "".join(p.read_text() for p in files)


def lint_case(case: Path, certs_dir: Path):
    if needs_cloudflare_files(case_text(case)) and not SHARED.exists():
        skip_or_fail(f"{case.name} needs Cloudflare's CA files from {SHARED}")
    target = case / "nginx.conf" if case.is_dir() else case
    return lint_in_process([target], path_map=[("/etc/nginx/certs", str(certs_dir))])


@pytest.mark.parametrize("case", CASES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture_gives_exactly_its_expectations(case: Path, certs_dir: Path):
    result = lint_case(case, certs_dir)
    assert finding_set(result.findings) == expectations(case), "\n".join(
        f"{f.file}:{f.line} {f.rule} {f.severity}: {f.message}" for f in result.findings)
    assert not not_as_data(result.findings)


@pytest.mark.parametrize("case", [c for c in CASES if "_fp" in c.name],
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_guard_fixture_expects_nothing_of_its_rule(case: Path):
    rule = case.parent.name
    assert not [e for e in expectations(case) if e[2] == rule]


@pytest.mark.parametrize("rule", [r.id for r in builtin_rules()])
def test_every_rule_has_failing_and_guard_fixtures(rule: str):
    cases = [c for c in CASES if c.parent.name == rule]
    failing = [c for c in cases if any(e[2] == rule for e in expectations(c))]
    guards = [c for c in cases if "_fp" in c.name]
    assert failing, f"{rule} has no fixture that expects it"
    assert guards, f"{rule} has no _fp guard fixture"


def test_demo_tree_gives_exactly_its_expectations():
    demo = FIXTURES / "demo" / "nginx"
    result = lint_in_process([demo / "nginx.conf"])
    assert finding_set(result.findings) == expectations(demo)
    assert not not_as_data(result.findings)
