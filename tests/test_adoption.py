"""Issue 14: one cause one finding, select/ignore, concise, statistics, baselines, --help,
and no `# expect:` markers in what users read."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import FIXTURES, lint_in_process, run_cli

DEMO = FIXTURES / "demo"


def forty_servers(folder: Path, certs_dir: Path, shared_snippet: bool) -> Path:
    """40 servers naming one CA file that expires in 10 days: each with its own directive, or
    all through one included snippet."""
    (folder / "snippets").mkdir(parents=True)
    (folder / "snippets" / "ca.conf").write_text(
        "ssl_client_certificate /etc/nginx/certs/expiring-ca.pem;\n")
    own = "ssl_client_certificate /etc/nginx/certs/expiring-ca.pem;"
    ca = "include snippets/ca.conf;" if shared_snippet else own
    servers = "".join(
        f"    server {{ listen 443 ssl; server_name s{i:02}.example.com; {ca} "
        "ssl_verify_client on; }\n" for i in range(40))
    (folder / "nginx.conf").write_text(f"events {{}}\nhttp {{\n{servers}}}\n")
    return folder / "nginx.conf"


@pytest.mark.parametrize("shared_snippet", [False, True], ids=["own-directives", "snippet"])
def test_forty_servers_sharing_an_expiring_ca_give_one_mtls004(tmp_path: Path, certs_dir: Path,
                                                                shared_snippet: bool):
    conf = forty_servers(tmp_path / "nginx", certs_dir, shared_snippet)
    result = lint_in_process([conf], path_map=[("/etc/nginx/certs", str(certs_dir))])
    (finding,) = [f for f in result.findings if f.rule == "MTLS004"]
    assert finding.severity == "warning"
    assert len(finding.servers) == 40 and finding.server == finding.servers[0]
    assert {s.names[0] for s in finding.servers} == {f"s{i:02}.example.com" for i in range(40)}


def test_json_servers_list_and_console_count(tmp_path: Path, certs_dir: Path):
    conf = forty_servers(tmp_path / "nginx", certs_dir, False)
    args = ("--path-map", f"/etc/nginx/certs={certs_dir}", "--select", "MTLS004", str(conf))
    document = json.loads(run_cli("--format", "json", *args, cwd=tmp_path).stdout)
    (finding,) = document["findings"]
    assert finding["server"] == finding["servers"][0] and len(finding["servers"]) == 40
    console = run_cli(*args, cwd=tmp_path).stdout.decode()
    assert "affects: 40 servers\n" in console  # then one server per entry
    entries = [line.strip() for line in console.splitlines() if line.startswith("           - ")]
    assert entries[0].startswith("- s00.example.com  ") and len(entries) == 6
    assert entries[-1] == "- ... and 35 more (see --format json)"


@pytest.fixture
def demo_copy(tmp_path: Path) -> Path:
    shutil.copytree(DEMO, tmp_path / "demo")
    return tmp_path / "demo"


def concise(repo: Path, *args: str):
    """(exit code, the finding lines); the closing count line is checked and left out."""
    result = run_cli("--format", "concise", *args, "nginx/nginx.conf", cwd=repo)
    *lines, count = result.stdout.decode().splitlines()
    assert re.fullmatch(r"\d+ errors?, \d+ warnings?, \d+ notes? in \d+ files? \(\d+ servers?\)",
                        count), count
    return result.returncode, [line.replace(": error ", ": ").replace(": warning ", ": ")
                               .replace(": note ", ": ") for line in lines]


def test_concise_select_and_ignore(demo_copy: Path):
    code, lines = concise(demo_copy)
    assert code == 1 and len(lines) == 4
    assert "nginx/snippets/origin-pull.conf:2:1: MTLS002 `ssl_verify_client optional` on " \
        "Cloudflare-fronted api.example.com" in lines[3]
    _, lines = concise(demo_copy, "--select", "MTLS003,verify-client-not-on")
    assert sorted(line.split()[1] for line in lines) == ["MTLS002", "MTLS003"]
    code, lines = concise(demo_copy, "--ignore", "MTLS001,MTLS002,client-ca-unusable")
    assert code == 0 and [line.split()[1] for line in lines] == ["MTLS103"]  # a note
    bad = run_cli("--select", "MTLS999", "nginx/nginx.conf", cwd=demo_copy)
    assert bad.returncode == 2 and b"unknown rule 'MTLS999'" in bad.stderr


def test_select_and_ignore_in_the_config_file(demo_copy: Path):
    (demo_copy / ".nginx-mtls-lint.yaml").write_text(
        "select: MTLS002, MTLS003\nignore: [client-ca-unusable]\n")
    _, lines = concise(demo_copy)
    assert [line.split()[1] for line in lines] == ["MTLS002"]
    _, lines = concise(demo_copy, "--ignore", "MTLS002")  # the flag replaces the file's list
    assert [line.split()[1] for line in lines] == ["MTLS003"]


def test_statistics(demo_copy: Path):
    result = run_cli("--format", "concise", "--statistics", "nginx/nginx.conf", cwd=demo_copy)
    tail = result.stdout.decode().splitlines()[-4:]
    assert tail[0].split() == ["1", "MTLS001", "error", "cf-vhost-without-mtls"]
    assert {line.split()[1] for line in tail} == {"MTLS001", "MTLS002", "MTLS003", "MTLS103"}


def test_baseline_survives_moved_lines_and_new_findings_still_fail(demo_copy: Path):
    baseline = demo_copy / "baseline.json"
    written = run_cli("--write-baseline", str(baseline), "nginx/nginx.conf", cwd=demo_copy)
    assert written.returncode == 0 and b"wrote 4 findings" in written.stderr
    for conf in (demo_copy / "nginx").rglob("*.conf"):  # every finding moves down two lines
        conf.write_text("# moved\n\n" + conf.read_text())
    code, lines = concise(demo_copy, "--baseline", str(baseline))
    assert (code, lines) == (0, [])
    (demo_copy / "nginx" / "sites-enabled" / "new.conf").write_text(
        "server { listen 8443 ssl; server_name new.example.com;\n"
        "    ssl_client_certificate certs/new-ca.pem; ssl_verify_client on; }\n")
    code, lines = concise(demo_copy, "--baseline", str(baseline))
    assert code == 1 and ["nginx/sites-enabled/new.conf:2:5:", "MTLS003"] in [
        line.split()[:2] for line in lines]
    assert all(line.startswith("nginx/sites-enabled/new.conf:") for line in lines)
    bad = run_cli("--baseline", str(demo_copy / "nginx" / "nginx.conf"), "nginx/nginx.conf",
                  cwd=demo_copy)
    assert bad.returncode == 2 and b"not a baseline" in bad.stderr


def test_color_flag(demo_copy: Path):
    always = run_cli("--color", "always", "nginx/nginx.conf", cwd=demo_copy).stdout
    never = run_cli("--color", "never", "nginx/nginx.conf", cwd=demo_copy).stdout
    assert b"\x1b[" in always and b"\x1b[" not in never


def test_help_lists_every_subcommand():
    from nginx_mtls_lint.cli import COMMANDS

    text = run_cli("--help").stdout.decode()
    listed = text.split("commands (nginx-mtls-lint COMMAND --help):", 1)[1].splitlines()
    assert sorted(line.split()[0] for line in listed
                  if line.startswith("  ") and line[2] != " ") == sorted(COMMANDS)
    # the description names every command too, and every command documents its exit codes
    description = " ".join(text.split("\n\n", 2)[1].split())
    assert all(command in description for command in COMMANDS), description
    for command in COMMANDS:
        page = run_cli(*([] if command == "lint" else [command]), "--help").stdout.decode()
        assert "exit codes: 0" in page, command
        assert max(len(line) for line in page.splitlines()) <= 80, command
    assert run_cli("-V").stdout.decode().startswith("nginx-mtls-lint ")


def test_no_expect_markers_in_user_facing_text(demo_copy: Path):
    demo = run_cli("nginx/nginx.conf", cwd=demo_copy).stdout.decode()
    assert "| ssl_verify_client optional;" in demo
    assert "expect:" not in demo
    assert "expect:" not in run_cli("explain", "MTLS002").stdout.decode()
    sarif = json.loads(run_cli("--format", "sarif", "nginx/nginx.conf", cwd=demo_copy).stdout)
    helps = [r["help"]["markdown"] for r in sarif["runs"][0]["tool"]["driver"]["rules"]]
    assert helps and not any("expect:" in h for h in helps)
    for page in (FIXTURES.parent / "rules").glob("*.md"):
        assert "# expect:" not in page.read_text(), page


def test_inspect_fits_80_columns_and_filters_servers(demo_copy: Path):
    out = run_cli("inspect", "nginx/nginx.conf", cwd=demo_copy).stdout.decode()
    lines = out.splitlines()
    assert all(len(line) <= 80 and line == line.rstrip() for line in lines)
    assert {"www.example.com", "shop.example.com", "api.example.com"} <= {
        line.split()[0] for line in lines if line and not line.startswith(" ")}
    assert lines[-1] == "3 servers"
    only = run_cli("inspect", "--server", "sh*", "nginx/nginx.conf", cwd=demo_copy)
    heads = [line.split()[0] for line in only.stdout.decode().splitlines()
             if line and not line.startswith(" ")]
    assert heads == ["shop.example.com", "1"]
    document = json.loads(run_cli("inspect", "--format", "json", "--server", "api.*",
                                  "nginx/nginx.conf", cwd=demo_copy).stdout)
    assert [s["names"] for s in document["servers"]] == [["api.example.com"]]
