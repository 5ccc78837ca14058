"""Findings as data: columns, related locations, structured fixes, traces, --diff, MTLS909."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, run_cli, shared_file

NGINX_CONF = """\
events {}
http {
    include conf.d/*.conf;
    include sites-enabled/*.conf;
}
"""
CLOUDFLARE_CONF = "real_ip_header CF-Connecting-IP;\nset_real_ip_from 173.245.48.0/20;\n"
API_CONF = """\
server {
    listen 443 ssl;
    server_name api.example.com;
    ssl_certificate     certs/server.pem;
    ssl_certificate_key certs/server.key;
    ssl_client_certificate certs/internal-ca.pem;
    ssl_verify_client   optional;  # the only check
    location / { proxy_pass http://127.0.0.1:8080; }
}
"""


@pytest.fixture
def cf_tree(tmp_path: Path, certs_dir: Path) -> Path:
    """nginx.conf + conf.d/cloudflare.conf (the signal) + sites-enabled/api.conf (the hole)."""
    (tmp_path / "nginx.conf").write_text(NGINX_CONF)
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "cloudflare.conf").write_text(CLOUDFLARE_CONF)
    (tmp_path / "sites-enabled").mkdir()
    (tmp_path / "sites-enabled" / "api.conf").write_text(API_CONF)
    shutil.copytree(certs_dir, tmp_path / "certs", symlinks=True)
    return tmp_path


def by_rule(document: dict) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for f in document["findings"]:
        found.setdefault(f["rule"], []).append(f)
    return found


def test_sarif_optional_without_handler_has_the_replacement_and_the_cloudflare_file(cf_tree):
    import jsonschema

    result = run_cli("--format", "sarif", "nginx.conf", cwd=cf_tree)
    assert result.returncode == 1, result.stderr.decode()
    log = json.loads(result.stdout)
    schema = json.loads(shared_file("data/sarif/sarif-schema-2.1.0.json").read_text())
    validator = jsonschema.validators.validator_for(schema)(
        schema, format_checker=jsonschema.FormatChecker())
    assert not list(validator.iter_errors(log))
    (item,) = [r for r in log["runs"][0]["results"] if r["ruleId"] == "MTLS002"]
    region = item["locations"][0]["physicalLocation"]["region"]
    assert region["startLine"] == 7
    related = {(r["physicalLocation"]["artifactLocation"]["uri"],
                r["physicalLocation"]["region"]["startLine"], r["message"]["text"])
               for r in item["relatedLocations"]}
    assert ("conf.d/cloudflare.conf", 1, "Cloudflare signal: real_ip_header CF-Connecting-IP "
            "(inherited from http {})") in related
    assert any(uri == "conf.d/cloudflare.conf" and line == 2 for uri, line, _ in related)
    assert ("sites-enabled/api.conf", 6, "client CA file certs/internal-ca.pem") in related
    (fix,) = item["fixes"]
    assert fix["properties"]["applicability"] == "unsafe"
    (change,) = fix["artifactChanges"]
    assert change["artifactLocation"]["uri"] == "sites-enabled/api.conf"
    (replacement,) = change["replacements"]
    line = API_CONF.split("\n")[6]
    start = line.index("optional") + 1
    assert replacement == {
        "deletedRegion": {"startLine": 7, "startColumn": start, "endLine": 7,
                          "endColumn": start + len("optional")},
        "insertedContent": {"text": "on"}}


def test_json_adds_related_fixes_and_trace_and_keeps_fix_text(cf_tree):
    result = run_cli("--format", "json", "nginx.conf", cwd=cf_tree)
    document = json.loads(result.stdout)
    for finding in document["findings"]:
        assert {"rule", "name", "severity", "message", "file", "line", "server",
                "fix"} <= set(finding)
        assert isinstance(finding["related"], list) and isinstance(finding["trace"], list)
    (mtls002,) = by_rule(document)["MTLS002"]
    assert mtls002["fix"].startswith("ssl_verify_client on;")
    (fix,) = mtls002["fixes"]
    assert fix["applicability"] == "unsafe" and "refuses visitors" in fix["title"]
    assert fix["edits"] == [{"file": "sites-enabled/api.conf", "start_line": 7,
                             "start_column": 25, "end_line": 7, "end_column": 33,
                             "text": "on"}]
    assert {"file": "conf.d/cloudflare.conf", "line": 1,
            "label": "Cloudflare signal: real_ip_header CF-Connecting-IP (inherited from "
                     "http {})"} in mtls002["related"]


def test_console_shows_related_lines_and_the_fix_as_a_diff(cf_tree):
    out = run_cli("nginx.conf", cwd=cf_tree).stdout.decode()
    assert "= related: Cloudflare signal: real_ip_header CF-Connecting-IP" in out
    assert "conf.d/cloudflare.conf:1" in out
    assert "fix (unsafe): `ssl_verify_client on`" in out
    assert "-     ssl_verify_client   optional;  # the only check" in out
    assert "+     ssl_verify_client   on;  # the only check" in out


def test_diff_applies_with_patch_and_closes_mtls002_and_mtls006(cf_tree):
    safe = run_cli("--diff", "nginx.conf", cwd=cf_tree)
    assert safe.returncode == 1 and "ssl_verify_client" not in safe.stdout.decode()
    result = run_cli("--diff", "--unsafe-fixes", "nginx.conf", cwd=cf_tree)
    diff = result.stdout.decode()
    assert diff.startswith("--- a/sites-enabled/api.conf\n+++ b/sites-enabled/api.conf\n")
    subprocess.run(["patch", "-p1", "--quiet"], input=result.stdout, cwd=cf_tree, check=True,
                   timeout=30)
    text = (cf_tree / "sites-enabled" / "api.conf").read_text()
    assert "ssl_verify_client   on;" in text
    # one cause, one finding: MTLS002 alone reports the missing handler, so one fix
    assert "if ($ssl_client_verify" not in text
    after = json.loads(run_cli("--format", "json", "nginx.conf", cwd=cf_tree).stdout)
    assert not {"MTLS002", "MTLS006"} & set(by_rule(after))


def test_diff_leaves_out_files_outside_the_working_directory_and_dumps(cf_tree: Path,
                                                                       tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("cwd")
    result = run_cli("--diff", "--unsafe-fixes", str(cf_tree / "nginx.conf"), cwd=elsewhere)
    assert result.stdout == b""
    assert "is outside the working directory" in result.stderr.decode()
    dump = "".join(f"# configuration file {p}:\n{p.read_text()}\n"
                   for p in [cf_tree / "nginx.conf", cf_tree / "conf.d" / "cloudflare.conf",
                             cf_tree / "sites-enabled" / "api.conf"])
    result = run_cli("--diff", "--unsafe-fixes", "-", cwd=cf_tree, stdin=dump.encode())
    assert result.stdout == b"" and "nginx -T dump" in result.stderr.decode()
    assert not list(cf_tree.rglob("*.orig")) and "optional" in (
        cf_tree / "sites-enabled" / "api.conf").read_text()  # the tree is never written


def test_unsafe_fixes_needs_diff(cf_tree):
    result = run_cli("--unsafe-fixes", "nginx.conf", cwd=cf_tree)
    assert result.returncode == 2 and "--diff" in result.stderr.decode()


# --------------------------------------------------------------------------- units

def test_locate_gives_columns_of_name_arguments_and_terminator():
    from nginx_mtls_lint.parser import locate, parse_text

    text = ('server {  # c\n    listen 443 ssl; ssl_verify_client   optional;  # x\n'
            '    add_header X "a b;c" always;\n    ssl_client_certificate\n        /x.pem;\n}\n')
    lines = text.split("\n")
    stmts = {s.name: s for s in parse_text(text, "f").stmts[0].block}

    def get(n):
        return lines[n - 1] if 0 < n <= len(lines) else None

    def words(stmt):
        return [get(s.line)[s.column - 1:s.end_column - 1] for s in locate(stmt, get)]

    assert words(stmts["ssl_verify_client"]) == ["ssl_verify_client", "optional", ";"]
    assert words(stmts["add_header"]) == ["add_header", "X", '"a b;c"', "always", ";"]
    spans = locate(stmts["ssl_client_certificate"], get)
    assert [(s.line, s.column) for s in spans] == [(4, 5), (5, 9), (5, 15)]
    lines[1] = "    # changed since it was parsed"
    assert locate(stmts["ssl_verify_client"], get) is None


def test_edits_overlap_and_apply():
    from nginx_mtls_lint.findings import Edit
    from nginx_mtls_lint.report.edits import apply

    replace = Edit("f", 2, 5, 2, 9, "on")
    insert_inside = Edit("f", 2, 6, 2, 6, "x")
    insert_after = Edit("f", 2, 9, 2, 9, ";")
    assert replace.overlaps(insert_inside) and not replace.overlaps(insert_after)
    assert not replace.overlaps(Edit("g", 2, 5, 2, 9, "on"))
    assert apply("a\nbbb optional\nc", [replace, insert_after]) == "a\nbbb on;onal\nc"
    assert apply("a\nb\nc\n", [Edit("f", 2, 1, 3, 1, "")]) == "a\nc\n"


def test_overlapping_fixes_are_left_out_and_named():
    from nginx_mtls_lint.findings import Edit, Finding, Fix
    from nginx_mtls_lint.report.edits import unified_diff

    conf = ROOT / "fixtures" / "rules" / "MTLS002" / "optional_no_handler.conf"
    name = str(conf.relative_to(ROOT))
    first = Finding("MTLS002", "a", "error", "m", name, 8,
                    fixes=[Fix("one", (Edit(name, 8, 23, 8, 31, "on"),), "unsafe")])
    second = Finding("MTLS006", "b", "error", "m", name, 1,
                     fixes=[Fix("two", (Edit(name, 8, 5, 8, 31, "x"),), "unsafe")])
    diff = unified_diff([first, second], unsafe=True, dump_files=set(), cwd=str(ROOT))
    assert "+    ssl_verify_client on;" in diff.text
    assert len(diff.left_out) == 1 and "MTLS006" in diff.left_out[0]
    assert "overlaps" in diff.left_out[0]
    assert unified_diff([first], unsafe=False, dump_files=set(), cwd=str(ROOT)).text == ""


def test_sarif_renders_a_trace_as_a_code_flow(tmp_path: Path):
    import jsonschema

    from nginx_mtls_lint.findings import Finding, Step
    from nginx_mtls_lint.lint import LintOptions, lint
    from nginx_mtls_lint.report import json_report, sarif

    conf = tmp_path / "a.conf"
    conf.write_text("server {\n    listen 443 ssl;\n    location / { root /srv; }\n}\n")
    result = lint([str(conf)], LintOptions())
    result.findings.append(Finding(
        "MTLS002", "verify-client-not-on", "error", "m", str(conf), 1,
        trace=[Step(str(conf), 1, "no certificate: NONE"), Step(str(conf), 3, "served")]))
    log = json.loads(sarif.render(result))
    schema = json.loads(shared_file("data/sarif/sarif-schema-2.1.0.json").read_text())
    jsonschema.validate(log, schema)
    (item,) = [r for r in log["runs"][0]["results"] if "codeFlows" in r]
    steps = item["codeFlows"][0]["threadFlows"][0]["locations"]
    assert [(s["location"]["physicalLocation"]["region"]["startLine"],
             s["location"]["message"]["text"]) for s in steps] == [
        (1, "no certificate: NONE"), (3, "served")]
    assert json_report.finding_dict(result.findings[-1])["trace"] == [
        {"file": str(conf), "line": 1, "label": "no certificate: NONE"},
        {"file": str(conf), "line": 3, "label": "served"}]


# --------------------------------------------------------------------------- every fix, applied

def test_every_structured_fix_of_the_rule_fixtures_closes_its_finding(tmp_path, certs_dir):
    """Each fix, applied alone to a copy of its fixture, leaves fewer findings of its rule
    and nothing nginx could not parse."""
    from nginx_mtls_lint.report.edits import apply
    from test_rule_fixtures import CASES, lint_case

    checked = set()
    for n, case in enumerate(CASES):
        findings = lint_case(case, certs_dir).findings
        fixes = {(f.rule, fix) for f in findings for fix in f.fixes if fix.applies}
        for m, (rule, fix) in enumerate(sorted(fixes, key=repr)):
            copy = tmp_path / f"{n}-{m}" / case.name
            if case.is_dir():
                shutil.copytree(case, copy)
            else:
                copy.parent.mkdir()
                shutil.copyfile(case, copy)
            base = case if case.is_dir() else case.parent
            target = copy if case.is_dir() else copy.parent
            for file in {e.file for e in fix.edits}:
                path = target / Path(file).resolve().relative_to(base.resolve())
                path.write_text(apply(path.read_text(), [e for e in fix.edits if e.file == file]))
            after = lint_case(copy, certs_dir).findings
            assert not [f for f in after if f.rule == "MTLS900"], (case, fix)
            assert len([f for f in after if f.rule == rule]) < len(
                [f for f in findings if f.rule == rule]), (case, fix)
            checked.add(rule)
    assert {"MTLS001", "MTLS002", "MTLS003", "MTLS004", "MTLS005", "MTLS006", "MTLS101",
            "MTLS102", "MTLS103", "MTLS104"} <= checked


@pytest.mark.nginx
def test_diff_with_unsafe_fixes_is_accepted_by_nginx_and_closes_mtls002_and_mtls006(
        tmp_path: Path, certs_dir: Path):
    """The checked-by of issue 10: `--diff --unsafe-fixes`, applied with `patch -p1`, gives a
    configuration `nginx -t` accepts, and MTLS002/MTLS006 are gone. Linted as written
    (`listen PORT`); nginx checks it bound to loopback."""
    from nginx_harness import Nginx, free_ports

    port, = free_ports(1)
    tree = tmp_path / "tree"
    nginx = Nginx(tree, "    include conf.d/*.conf;\n    include sites-enabled/*.conf;\n")
    (tree / "conf.d").mkdir()
    (tree / "conf.d" / "cloudflare.conf").write_text(CLOUDFLARE_CONF)
    (tree / "sites-enabled").mkdir()
    shutil.copytree(certs_dir, tree / "certs", symlinks=True)
    site = tree / "sites-enabled" / "api.conf"
    site.write_text(API_CONF.replace("listen 443 ssl", f"listen {port} ssl").replace(
        "internal-ca.pem", "origin-pull-ca.pem").replace("certs/", f"{tree}/certs/"))
    before = json.loads(run_cli("--format", "json", "nginx.conf", cwd=tree).stdout)
    assert "MTLS002" in by_rule(before)
    diff = run_cli("--diff", "--unsafe-fixes", "nginx.conf", cwd=tree)
    subprocess.run(["patch", "-p1", "--quiet"], input=diff.stdout, cwd=tree, check=True,
                   timeout=30)
    after = json.loads(run_cli("--format", "json", "nginx.conf", cwd=tree).stdout)
    assert not {"MTLS002", "MTLS006"} & set(by_rule(after))
    site.write_text(site.read_text().replace(f"listen {port}", f"listen 127.0.0.1:{port}"))
    checked = nginx.check()
    assert checked.returncode == 0, checked.stderr


def test_findings_carry_the_columns_of_their_directive(tmp_path):
    """1-based, end exclusive, in JSON and as the SARIF region."""
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\nhttp {\n  server {\n    listen 443 ssl;\n"
                    "    server_name a.example.com; root /var/www/a;\n    real_ip_header CF-Connecting-IP;\n"
                    "    ssl_verify_client   off;\n  }\n}\n")
    document = json.loads(run_cli("--format", "json", str(conf)).stdout)
    (finding,) = [f for f in document["findings"] if f["rule"] == "MTLS001"]
    assert (finding["line"], finding["column"], finding["end_column"]) == (7, 5, 29)
    sarif = json.loads(run_cli("--format", "sarif", str(conf)).stdout)
    (result,) = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "MTLS001"]
    region = result["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"], region["endColumn"]) == (7, 5, 29)
