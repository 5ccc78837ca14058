"""Issue 2's checks: the JSON contract, `nginx -T` input, `inspect`, exit codes."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT, expectations, lint_json, run_cli
from nginx_harness import nginx_binary

TREE = FIXTURES / "trees" / "absolute_includes"


@pytest.fixture
def repo_tree(tmp_path: Path, certs_dir: Path) -> Path:
    """The fixture tree copied out, with the test PKI as its certs/ folder."""
    tree = tmp_path / "nginx"
    shutil.copytree(TREE, tree)
    shutil.copytree(certs_dir, tree / "certs", symlinks=True)
    return tree


def finding_keys(document: dict, base: Path) -> set[tuple[str, int, str]]:
    return {(str((base / f["file"]).resolve()), f["line"], f["rule"])
            for f in document["findings"]}


def check_contract(document: dict) -> None:
    assert document["version"] == 1
    assert document["tool"]["name"] == "nginx-mtls-lint"
    assert isinstance(document["tool"]["version"], str)
    assert set(document["summary"]) >= {"errors", "warnings", "notes", "files", "servers"}
    assert all(isinstance(v, int) for v in document["summary"].values())
    for f in document["findings"]:
        assert set(f) >= {"rule", "name", "severity", "message", "file", "line", "server", "fix"}
        assert f["severity"] in ("error", "warning", "note")
        assert isinstance(f["rule"], str) and isinstance(f["name"], str)
        assert isinstance(f["message"], str) and f["message"]
        assert f["line"] is None or isinstance(f["line"], int)
        if f["server"] is not None:
            assert set(f["server"]) == {"names", "file", "line"}
            assert all(isinstance(n, str) for n in f["server"]["names"])
            assert isinstance(f["server"]["line"], int)


def test_json_contract_with_path_map(repo_tree: Path):
    document = lint_json("--path-map", f"/etc/nginx={repo_tree}", str(repo_tree / "nginx.conf"),
                         cwd=repo_tree)
    check_contract(document)
    assert finding_keys(document, repo_tree) == expectations(repo_tree)
    assert document["summary"]["servers"] == 2
    assert document["summary"]["files"] == 5
    severities = {(f["rule"], f["severity"]) for f in document["findings"]}
    # admin has a server-level handler (warning); app has none (error).
    assert ("MTLS002", "warning") in severities and ("MTLS002", "error") in severities
    inherited = [f for f in document["findings"] if f["rule"] == "MTLS002"]
    assert all("inherited from http {}" in f["message"] for f in inherited)


def test_without_path_map_the_absolute_includes_are_inferred_or_reported(repo_tree: Path):
    # The tree holds sites-enabled/ and snippets/: /etc/nginx is mapped onto it, with a note,
    # and the findings are those of the explicit --path-map.
    document = lint_json(str(repo_tree / "nginx.conf"), cwd=repo_tree)
    (inferred,) = [f for f in document["findings"] if f["rule"].startswith("MTLS9")]
    assert (inferred["file"], inferred["line"], inferred["rule"]) == ("nginx.conf", 8, "MTLS910")
    assert "--path-map /etc/nginx=." in inferred["message"]
    assert finding_keys({"findings": [f for f in document["findings"] if f is not inferred]},
                        repo_tree) == expectations(repo_tree)
    # Never the host's /etc/nginx: without inference the include is reported, not read.
    result = run_cli("--format", "json", "--no-infer-paths", str(repo_tree / "nginx.conf"),
                     cwd=repo_tree)
    document = json.loads(result.stdout)
    missing = [(f["file"], f["line"], f["rule"]) for f in document["findings"]
               if f["rule"].startswith("MTLS9")]
    assert missing == [("nginx.conf", 8, "MTLS901")]
    assert any("--path-map /etc/nginx=" in f["message"] for f in document["findings"])
    assert result.returncode == 1


@pytest.mark.nginx
def test_nginx_dump_gives_the_same_findings_as_the_tree(repo_tree: Path):
    nginx = nginx_binary()
    # Make the copy self-contained for nginx: /etc/nginx -> the copy (same line numbers).
    for path in repo_tree.rglob("*.conf"):
        path.write_text(path.read_text().replace("/etc/nginx", str(repo_tree)))
    (repo_tree / "logs").mkdir()
    dump = subprocess.run([nginx, "-T", "-p", str(repo_tree), "-c", str(repo_tree / "nginx.conf"),
                           "-e", "stderr"], capture_output=True, timeout=60)
    assert dump.returncode == 0, dump.stderr.decode()
    from_dump = lint_json("-", stdin=dump.stdout, cwd=repo_tree)
    from_tree = lint_json(str(repo_tree / "nginx.conf"), cwd=repo_tree)
    assert finding_keys(from_dump, repo_tree) == finding_keys(from_tree, repo_tree)
    assert finding_keys(from_tree, repo_tree) == expectations(repo_tree)


def test_inspect_json_default_server_and_inherited_source(repo_tree: Path):
    result = run_cli("inspect", "--format", "json", "--path-map", f"/etc/nginx={repo_tree}",
                     str(repo_tree / "nginx.conf"), cwd=repo_tree)
    assert result.returncode == 0, result.stderr.decode()
    servers = {s["names"][0]: s for s in json.loads(result.stdout)["servers"]}
    admin, app = servers["admin.example.com"], servers["app.example.com"]
    assert admin["sockets"][0]["socket"] == "0.0.0.0:443"
    assert admin["sockets"][0]["default"] is True and app["sockets"][0]["default"] is False
    assert admin["sockets"][0]["tls"] and app["sockets"][0]["tls"]
    verify = app["ssl_verify_client"]
    assert verify == {"value": "optional", "file": "nginx.conf", "line": 7, "inherited": True}
    assert app["cloudflare"]["fronted"]
    signal = app["cloudflare"]["signals"][0]
    assert (signal["kind"], signal["file"], signal["line"], signal["inherited"]) == (
        "real-ip-header", "nginx.conf", 5, True)
    assert admin["handlers"][0]["file"] == "snippets/require-cert.conf"


def test_inspect_first_listed_server_is_default_when_none_is_marked(tmp_path: Path):
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\nhttp {\n"
                    "  server { listen 8443 ssl; server_name first.test; }\n"
                    "  server { listen *:8443; server_name second.test; }\n"
                    "  server { listen 127.0.0.1:8443; server_name third.test; }\n"
                    "  server { listen [::]:8443; server_name v6.test; }\n}\n")
    result = run_cli("inspect", "--format", "json", str(conf))
    servers = {s["names"][0]: s["sockets"][0] for s in json.loads(result.stdout)["servers"]}
    assert servers["first.test"] == {**servers["first.test"], "socket": "0.0.0.0:8443",
                                     "default": True, "tls": True}
    # `listen *:8443;` shares the socket, and the ssl flag of another server makes it TLS.
    assert servers["second.test"]["default"] is False and servers["second.test"]["tls"] is True
    # A specific address is a different socket, with its own default; [::] stays plain.
    assert servers["third.test"]["default"] is True and servers["third.test"]["tls"] is False
    assert servers["v6.test"]["socket"] == "[::]:8443" and servers["v6.test"]["tls"] is False


def test_inspect_console_table_shows_sources(repo_tree: Path):
    result = run_cli("inspect", "--path-map", f"/etc/nginx={repo_tree}",
                     str(repo_tree / "nginx.conf"), cwd=repo_tree)
    out = result.stdout.decode()
    assert "admin.example.com" in out and "nginx.conf:7" in out and "default" in out


def test_version_and_exit_codes(tmp_path: Path):
    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout.decode().startswith("nginx-mtls-lint ")
    assert run_cli("--no-such-flag").returncode == 2
    assert run_cli(str(tmp_path / "absent.conf")).returncode == 2
    clean = tmp_path / "clean.conf"
    clean.write_text("server { listen 80; server_name a.test; }\n")
    assert run_cli(str(clean)).returncode == 0
    demo = FIXTURES / "demo" / "nginx" / "nginx.conf"
    assert run_cli(str(demo)).returncode == 1
    assert run_cli("--exit-zero", str(demo)).returncode == 0
    assert run_cli("--fail-on", "error", str(demo)).returncode == 1


def test_fail_on_threshold_counts_only_that_severity_and_above(tmp_path: Path, certs_dir: Path):
    conf = tmp_path / "warn.conf"
    conf.write_text("server {\n  listen 443 ssl;\n  server_name a.test;\n"
                    f"  ssl_client_certificate {certs_dir}/expiring-ca.pem;\n"
                    "  ssl_verify_client on;\n}\n")
    assert run_cli(str(conf)).returncode == 1  # default threshold: warning
    assert run_cli("--fail-on", "error", str(conf)).returncode == 0


def test_console_output_groups_by_file_shows_line_and_fix(tmp_path: Path):
    result = run_cli(str(FIXTURES / "demo" / "nginx" / "nginx.conf"), cwd=ROOT,
                     )
    out = result.stdout.decode()
    assert "fixtures/demo/nginx/sites-enabled/shop.conf" in out
    assert "proxy_ssl_verify on;" in out  # the offending line
    assert "fix: Add to the server block:" in out
    assert "\x1b[" not in out  # no colours when not a terminal
    assert "errors" in out.splitlines()[-1]


def test_output_file(tmp_path: Path):
    target = tmp_path / "report.json"
    result = run_cli("--format", "json", "--output", str(target),
                     str(FIXTURES / "demo" / "nginx" / "nginx.conf"))
    assert result.returncode == 1 and result.stdout == b""
    assert json.loads(target.read_text())["findings"]


def test_console_colours_follow_the_terminal_and_no_color(tmp_path: Path):
    import os
    import re
    import subprocess
    import sys

    demo = str(FIXTURES / "demo" / "nginx" / "nginx.conf")
    colour = re.compile(r"\x1b\[[0-9;]*3[0-7]m|\x1b\[[0-9;]*38;")

    def console(**env) -> str:
        result = subprocess.run([sys.executable, "-m", "nginx_mtls_lint", demo],
                                capture_output=True, timeout=60, cwd=ROOT,
                                env={**{k: v for k, v in os.environ.items()
                                        if k not in ("NO_COLOR", "FORCE_COLOR", "TERM")},
                                     "PYTHONPATH": str(ROOT), "TERM": "xterm-256color", **env})
        return result.stdout.decode()

    assert colour.search(console(FORCE_COLOR="1"))  # a terminal: coloured
    assert not colour.search(console(FORCE_COLOR="1", NO_COLOR="1"))
    assert "\x1b[" not in console()  # a pipe: plain text
