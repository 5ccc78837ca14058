"""rules/ is rendered from the rule sources and stays current; every documented example gives
exactly the findings its `# expect:` comments name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import ROOT, SHARED, expectations, finding_set, lint_in_process, \
    needs_cloudflare_files, skip_or_fail
from nginx_mtls_lint.docs import expected_pages, find_rule
from nginx_mtls_lint.rules import builtin_rules

NGINX_BLOCK = re.compile(r"```(nginx|yaml)\n(.*?)```", re.DOTALL)


def test_catalogue_is_current():
    pages = expected_pages()
    on_disk = {p.name: p.read_text() for p in (ROOT / "rules").glob("*.md")}
    stale = sorted(name for name in pages.keys() | on_disk.keys()
                   if pages.get(name) != on_disk.get(name))
    assert not stale, f"run `python -m nginx_mtls_lint.docs`: out of date: {stale}"


@pytest.mark.parametrize("rule", builtin_rules(), ids=lambda r: r.id)
def test_rule_doc_has_the_sections(rule):
    doc = rule.doc()
    for section in ("## Why", "## Example", "## Fix"):
        assert section in doc, f"{rule.id} lacks {section}"
    assert find_rule(rule.id) is rule and find_rule(rule.name) is rule


@pytest.mark.parametrize("rule", builtin_rules(), ids=lambda r: r.id)
def test_documented_examples_give_the_documented_findings(rule, tmp_path: Path, certs_dir):
    example = rule.doc().split("## Example", 1)[1].split("## Fix", 1)[0]
    blocks = NGINX_BLOCK.findall(example)
    assert blocks, f"{rule.id}: no ```nginx example"
    for number, (language, text) in enumerate(blocks):
        if needs_cloudflare_files(text) and not SHARED.exists():
            skip_or_fail(f"{rule.id} example needs Cloudflare's CA files from {SHARED}")
        # a Kubernetes rule's example is a manifest
        path = tmp_path / f"example{number}.{'conf' if language == 'nginx' else 'yaml'}"
        path.write_text(text)
        result = lint_in_process([path], path_map=[("/etc/nginx/certs", str(certs_dir))])
        expected = expectations(path)
        assert any(e[2] == rule.id for e in expected), f"{rule.id}: example expects nothing"
        assert finding_set(result.findings) == expected, [
            (f.line, f.rule, f.message) for f in result.findings]


@pytest.mark.parametrize("rule", builtin_rules(), ids=lambda r: r.id)
def test_every_rule_is_proven_against_a_real_nginx(rule):
    doc = rule.doc()
    assert "## Verified" in doc and f"pytest -m nginx -k {rule.id}" in doc
    suite = "".join(p.read_text() for p in sorted((ROOT / "tests").glob("test_nginx*.py")))
    assert re.search(rf"def test_{rule.id}_", suite), f"no real-nginx test for {rule.id}"
