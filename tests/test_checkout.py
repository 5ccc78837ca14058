"""Issue 14: a checkout is not the live system. Inferred prefixes, package files, CA files
that live only on the deployed host, inputs that are not nginx or not there."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import FIXTURES, expectations, lint_in_process, run_cli

MIRROR = FIXTURES / "trees" / "etc_nginx_mirror"
HOOK_FILES = re.compile(re.search(r"^  files: (.+)$", (FIXTURES.parent / ".pre-commit-hooks.yaml")
                                  .read_text(), re.MULTILINE).group(1))


def test_a_mirror_of_etc_nginx_with_no_flags_has_one_error_its_real_mistake():
    result = run_cli("--format", "json", str(MIRROR))
    assert result.returncode == 1, result.stderr.decode()
    document = json.loads(result.stdout)
    findings = document["findings"]
    failing = {(str(Path(f["file"]).resolve()), f["line"], f["rule"]) for f in findings
               if f["severity"] != "note"}
    assert failing == expectations(MIRROR)  # blog.example.com: MTLS001, nothing else
    notes = [f["rule"] for f in findings if f["severity"] == "note"]
    assert notes.count("MTLS910") == 1 and notes.count("MTLS911") == 1
    assert not [f for f in findings if f["rule"] in ("MTLS901", "MTLS003")]
    (inferred,) = [f for f in findings if f["rule"] == "MTLS910"]
    assert "--path-map /etc/nginx=" in inferred["message"] and "conf.d/" in inferred["message"]
    (ca,) = [f for f in findings if f["rule"] == "MTLS911"]
    assert "--path-map /etc/ssl/cloudflare=DIR" in ca["message"]
    assert "commit it to the repository" in ca["message"] and len(ca["servers"]) == 2
    analysis = document["analysis_notes"]
    assert any(n.startswith("loaded modules unknown") and "stream" in n for n in analysis)
    assert "2 server CA checks skipped: 1 CA/CRL file not available in this checkout " \
        "(MTLS911)" in analysis
    console = run_cli(str(MIRROR)).stdout.decode()
    assert "1 error, 0 warnings" in console and "note: loaded modules unknown" in console


def test_inference_off_and_explicit_maps(tmp_path: Path):
    off = json.loads(run_cli("--format", "json", "--no-infer-paths", str(MIRROR)).stdout)
    rules = [f["rule"] for f in off["findings"]]
    assert "MTLS910" not in rules and "MTLS901" in rules
    assert any(n.startswith("analysis incomplete:") for n in off["analysis_notes"])
    # a --path-map says the files are there: a missing CA file is MTLS003 again
    mapped = json.loads(run_cli("--format", "json", "--path-map",
                                f"/etc/ssl/cloudflare={tmp_path}", str(MIRROR)).stdout)
    rules = [f["rule"] for f in mapped["findings"]]
    assert "MTLS003" in rules and "MTLS911" not in rules


def ca_tree(folder: Path, ca: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nginx.conf").write_text(
        "events {}\nhttp {\n  server {\n    listen 443 ssl;\n    server_name a.example.com;\n"
        f"    ssl_client_certificate {ca};\n    ssl_verify_client on;\n  }}\n}}\n")
    return folder / "nginx.conf"


def rules_of(result) -> list[str]:
    return [f.rule for f in result.findings]


def test_a_live_tree_keeps_the_missing_ca_error(tmp_path: Path, monkeypatch):
    from nginx_mtls_lint import loader

    conf = ca_tree(tmp_path / "etc-nginx", "/nonexistent/ca.pem")
    assert rules_of(lint_in_process([conf])) == ["MTLS911"]  # a checkout: not available here
    monkeypatch.setattr(loader, "NGINX_PREFIXES", (str(tmp_path / "etc-nginx"),))
    assert rules_of(lint_in_process([conf])) == ["MTLS003"]  # this machine's nginx: missing


def dump(conf: Path) -> bytes:
    return f"nginx: the configuration file {conf} syntax is ok\n# configuration file {conf}:\n" \
        .encode() + conf.read_bytes()


def test_a_dump_is_live_for_the_files_that_exist_here(tmp_path: Path):
    here = ca_tree(tmp_path / "here", "/nonexistent/ca.pem")
    live = json.loads(run_cli("--format", "json", "-", stdin=dump(here)).stdout)
    assert [f["rule"] for f in live["findings"]] == ["MTLS003"]
    elsewhere = dump(here).replace(str(here).encode(), b"/srv/other-host/nginx/nginx.conf")
    other = json.loads(run_cli("--format", "json", "-", stdin=elsewhere).stdout)
    assert [f["rule"] for f in other["findings"]] == ["MTLS911"]


def test_package_files_missing_from_a_checkout_are_no_finding(tmp_path: Path):
    (tmp_path / "nginx.conf").write_text(
        "include modules-enabled/*.conf;\nevents {}\nhttp {\n  include mime.types;\n"
        "  include /etc/nginx/fastcgi_params;\n  include snippets/fastcgi-php.conf;\n"
        "  include missing.conf;\n}\n")
    result = lint_in_process([tmp_path / "nginx.conf"])
    assert [(f.rule, f.line) for f in result.findings] == [("MTLS901", 7)]  # only the real one
    assert any(n.startswith("loaded modules unknown") for n in result.notes)
    assert any(n.startswith("analysis incomplete: 1 included file") for n in result.notes)


def test_a_folder_without_nginx_configuration_exits_2(tmp_path: Path):
    (tmp_path / "app.py").write_text("print('hello')\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    result = run_cli(str(tmp_path))
    assert result.returncode == 2
    assert f"no nginx configuration found under {tmp_path}" in result.stderr.decode()
    (tmp_path / "redis.conf").write_text("bind 127.0.0.1\nport 6379\n")
    assert run_cli(str(tmp_path)).returncode == 2  # only a file that is not nginx


REDIS = "# Redis configuration\nbind 127.0.0.1 -::1\nport 6379\nsave 3600 1\n" \
    "include /etc/redis/local.conf\nrequirepass \"secret;\"\n"
SUPERVISORD = "; supervisor config file\n[unix_http_server]\nfile=/var/run/supervisor.sock " \
    "  ; (the path to the socket file)\n\n[program:app]\ncommand=/usr/bin/app --port 80\n" \
    "autorestart=true\n"


def test_files_that_are_not_nginx_are_skipped_with_a_note(tmp_path: Path):
    (tmp_path / "redis.conf").write_text(REDIS)
    (tmp_path / "supervisord.conf").write_text(SUPERVISORD)
    (tmp_path / "site.conf").write_text(
        "server {\n  listen 443 ssl;\n  server_name a.example.com;\n"
        "  real_ip_header CF-Connecting-IP; root /var/www/a;\n}\n")
    names = ["redis.conf", "supervisord.conf", "site.conf"]
    document = json.loads(run_cli("--format", "json", *names, cwd=tmp_path).stdout)
    by_file = {(f["file"], f["rule"], f["severity"]) for f in document["findings"]}
    assert ("redis.conf", "MTLS912", "note") in by_file
    assert ("supervisord.conf", "MTLS912", "note") in by_file
    assert ("site.conf", "MTLS001", "error") in by_file
    assert not [f for f in document["findings"] if f["rule"] == "MTLS900"]
    only = run_cli("redis.conf", "supervisord.conf", cwd=tmp_path)  # pre-commit's case
    assert only.returncode == 0 and b"MTLS912" in only.stdout


def test_a_snippet_of_a_third_party_directive_is_nginx(tmp_path: Path):
    """h5bp's pre-compressed_content_brotli.conf holds one statement, of ngx_brotli: it is
    nginx (read as a fragment), not MTLS912."""
    (tmp_path / "brotli.conf").write_text("# Serve brotli files if they exist\n"
                                          "brotli_static on;\n")
    (tmp_path / "headers.conf").write_text("more_set_headers 'Server: x';\ngzip on;\n")
    result = run_cli("--format", "json", "brotli.conf", "headers.conf", cwd=tmp_path)
    assert result.returncode == 0
    assert not json.loads(result.stdout)["findings"]


def test_a_broken_nginx_file_still_gets_mtls900(tmp_path: Path):
    (tmp_path / "broken.conf").write_text(
        "server {\n  listen 443 ssl;\n  server_name a.example.com;\n  location / {\n"
        "    proxy_pass http://127.0.0.1:8080;\n}\n")
    result = lint_in_process([tmp_path / "broken.conf"])
    assert "MTLS900" in rules_of(result) and "MTLS912" not in rules_of(result)


def test_a_missing_path_among_several_is_a_diagnostic(tmp_path: Path):
    (tmp_path / "site.conf").write_text("server {\n  listen 80;\n  server_name a.test;\n}\n")
    result = run_cli("--format", "concise", "site.conf", "nope.conf", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.decode().splitlines()[0] == \
        "nope.conf: error MTLS913 nope.conf: no such file or directory"
    alone = run_cli("nope.conf", cwd=tmp_path)
    assert alone.returncode == 2 and b"nope.conf: no such file or directory" in alone.stderr


@pytest.mark.parametrize("path,selected", [
    ("nginx/nginx.conf", True), ("deploy/nginx/sites-enabled/shop.conf", True),
    ("etc/nginx/sites-available/default", True), ("nginx/conf.d/app.conf", True),
    ("snippets/tls.conf", True), ("infra/nginx/stream.d/db.conf", True),
    ("redis.conf", False), ("supervisor/supervisord.conf", False), ("conf.d/README.md", False),
    ("etc/redis/redis.conf", False),
])
def test_the_precommit_hook_selects_nginx_looking_paths(path: str, selected: bool):
    assert bool(HOOK_FILES.search(path)) is selected
