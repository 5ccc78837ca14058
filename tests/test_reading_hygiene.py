"""The linter reads only what nginx reads and says only what is needed (issue 20, item 4):
includes outside a checkout are read only when asked, a file that is not nginx is never
quoted, only regular files are opened, and an unreadable folder is a diagnostic."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from conftest import cli_in_process

SECRET = "hunter2-FAKE"
SERVER = ("server {\n  listen 443 ssl;\n  server_name a.test;\n"
          "  real_ip_header CF-Connecting-IP;\n"
          "  location / { proxy_pass http://127.0.0.1:8080; }\n}\n")
FORMATS = ("console", "concise", "json", "sarif", "github", "gitlab")


def run(tree: Path, fmt: str, *args: str) -> str:
    """One run in this process (the CLI's own entry point), its report and its messages."""
    code, report, errors = cli_in_process("--format", fmt, "--color", "never", *args,
                                          "nginx.conf", cwd=tree)
    assert code == 1, errors
    return report.decode() + errors


def outputs(tree: Path, *args: str) -> dict[str, str]:
    """Every report format of one run: what could leak a file's text."""
    return {fmt: run(tree, fmt, *args) for fmt in FORMATS}


def findings(tree: Path, *args: str) -> set[tuple[str, int, str]]:
    document = json.loads(run(tree, "json", *args))
    return {(f["file"], f["line"], f["rule"]) for f in document["findings"]}


def checkout(tmp_path: Path, includes: str) -> Path:
    tree = tmp_path / "repo"
    tree.mkdir()
    (tree / "nginx.conf").write_text(
        "events {}\nhttp {\n" + includes + SERVER + "}\n")
    return tree


def test_include_outside_the_checkout_is_not_read_unless_asked(tmp_path):
    secrets = tmp_path / "host"
    secrets.mkdir()
    (secrets / "app.env").write_text(f"DB_PASSWORD={SECRET}\n")
    (secrets / "extra.conf").write_text("server { listen 80; server_name b.test; }\n")
    tree = checkout(tmp_path, f"  include {secrets}/app.env;\n  include ../host/*.conf;\n")
    for fmt, text in outputs(tree).items():
        assert SECRET not in text and "extra.conf" not in text.replace("*.conf", ""), fmt
    assert {(f, line, rule) for f, line, rule in findings(tree) if rule.startswith("MTLS9")} \
        == {("nginx.conf", 3, "MTLS901"), ("nginx.conf", 4, "MTLS901")}
    # asked for: read as nginx reads it, and still not quoted (not nginx configuration)
    asked = findings(tree, "--read-outside-tree")
    assert ("nginx.conf", 4, "MTLS901") not in asked
    assert [line for file, line, rule in asked if rule == "MTLS900" and file.endswith("app.env")]
    for text in outputs(tree, "--read-outside-tree").values():
        assert SECRET not in text
    # a folder --path-map maps onto is the user's: read (and, not being nginx, not quoted)
    mapped = findings(tree, "--path-map", f"/srv={secrets}")
    assert [line for file, line, rule in mapped if rule == "MTLS900" and file.endswith("app.env")]
    assert not [rule for _, _, rule in mapped if rule == "MTLS901"]


def test_a_link_in_the_checkout_to_a_host_file_is_not_followed(tmp_path):
    tree = checkout(tmp_path, "  include conf.d/*.conf;\n")
    (tree / "conf.d").mkdir()
    outside = tmp_path / "passwd"
    outside.write_text(f"root:{SECRET}:0:0:root:/root:/bin/bash\n")
    (tree / "conf.d" / "x.conf").symlink_to(outside)
    assert ("nginx.conf", 3, "MTLS901") in findings(tree)
    for text in outputs(tree).values():
        assert SECRET not in text


@pytest.mark.parametrize("content", [
    f"root:$y$j9T${SECRET}:19700:0:99999:7:::\n",  # no `;`: a parse error quoting it
    f"DB_PASSWORD={SECRET}\nAPI_TOKEN = tok_{SECRET};\n",  # parses: an unknown directive
    f"machine github.com login ci password {SECRET}\n",
])
def test_an_included_file_that_is_not_nginx_is_never_quoted(tmp_path, content):
    tree = checkout(tmp_path, "  include secrets.txt;\n")
    (tree / "secrets.txt").write_text(content)
    for fmt, text in outputs(tree).items():
        assert SECRET not in text, fmt
    assert ("secrets.txt", 1, "MTLS900") in findings(tree)


def test_data_files_nginx_includes_are_still_nginx(tmp_path):
    tree = checkout(tmp_path, "  include mime.types;\n  include broken.conf;\n"
                    "  map $ssl_client_verify $reject {\n    include keys.txt;\n  }\n")
    (tree / "mime.types").write_text("types {\n  text/html html;\n  image/png png;\n}\n")
    (tree / "keys.txt").write_text("SUCCESS 0;\ndefault 1;\n")  # a map's entries
    (tree / "broken.conf").write_text("proxy_buffering off;\nclient_max_body_size 1m\n")
    found = findings(tree)
    assert not {(f, line) for f, line, rule in found if rule == "MTLS900"} - {("broken.conf", 2)}
    assert ("broken.conf", 2, "MTLS900") in found  # a broken nginx file keeps its error


def test_special_files_are_never_opened(tmp_path, monkeypatch):
    """A FIFO matched by an include glob and named as --baseline: typed with stat, never
    passed to open (a device's driver would run: a watchdog arms, a tty's line rises)."""
    from nginx_mtls_lint import cli

    tree = checkout(tmp_path, "  include conf.d/*.conf;\n")
    (tree / "conf.d").mkdir()
    fifo = tree / "conf.d" / "pipe.conf"
    os.mkfifo(fifo)
    try:  # a character device (a copy of /dev/null): its driver's open() must not run
        os.mknod(tree / "conf.d" / "null.conf", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except PermissionError:
        pass  # not root: the FIFO stands for it
    os.mkfifo(tree / "baseline.json")
    opened: list[str] = []
    real_open = os.open

    def watched(path, *args, **kw):
        opened.append(os.fspath(path))
        return real_open(path, *args, **kw)

    monkeypatch.setattr(os, "open", watched)
    monkeypatch.chdir(tree)
    out = tmp_path / "report.json"
    code = cli.main(["--format", "json", "-o", str(out), "nginx.conf"])
    assert code == 1
    found = {(f["file"], f["line"], f["rule"]) for f in json.loads(out.read_text())["findings"]}
    assert ("nginx.conf", 3, "MTLS904") in found
    assert cli.main(["--baseline", "baseline.json", "nginx.conf"]) == 2
    assert not [p for p in opened if p.endswith(("pipe.conf", "null.conf", "baseline.json"))]


def test_unlistable_folders_are_reported(tmp_path, monkeypatch):
    """A non-root run meets a 0700 folder: glob and os.walk skip it without a word."""
    from nginx_mtls_lint.cloudflare import CloudflareOptions  # noqa: F401 (import order)
    from nginx_mtls_lint.lint import LintOptions, lint

    tree = checkout(tmp_path, "  include sites-enabled/*.conf;\n")
    (tree / "sites-enabled").mkdir()
    (tree / "sites-enabled" / "shop.conf").write_text(SERVER.replace("a.test", "shop.test"))
    locked = str(tree / "sites-enabled")
    real_scandir = os.scandir

    def scandir(path="."):
        if os.path.abspath(os.fspath(path)) == locked:
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.chdir(tree)
    result = lint([str(tree / "nginx.conf")], LintOptions())
    assert ("nginx.conf", 3, "MTLS904") in {(f.file, f.line, f.rule) for f in result.findings}
    result = lint([str(tree)], LintOptions())
    assert ("sites-enabled", "MTLS904") in {(f.file, f.rule) for f in result.findings}
