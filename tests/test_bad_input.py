"""Bad input gets a diagnostic with file:line and the run goes on; never a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import run_cli, lint_json

SERVER = ("server {\n    listen 443 ssl;\n    server_name ok.test;\n"
          "    real_ip_header CF-Connecting-IP; root /var/www/ok;\n}\n")


def diagnostics(document: dict) -> set[tuple[str, int | None, str]]:
    return {(f["file"], f["line"], f["rule"]) for f in document["findings"]
            if f["rule"].startswith("MTLS9")}


def rules_seen(document: dict) -> set[str]:
    return {f["rule"] for f in document["findings"]}


def tree(tmp_path: Path, main_http: str, files: dict[str, bytes | str]) -> Path:
    (tmp_path / "nginx.conf").write_text(f"events {{}}\nhttp {{\n{main_http}\n}}\n")
    for name, data in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return tmp_path / "nginx.conf"


@pytest.mark.parametrize("name,data,expected", [
    ("garbage.conf", os.urandom(64) + b"\x00" + os.urandom(64), ("MTLS904", 3)),
    ("zero.conf", b"", None),
    ("truncated.conf", b"server {\n  listen 443 ssl;\n  server_name x.test", ("MTLS900", 3)),
    ("unterminated.conf", b"server { listen 443 ssl; }\nserver { server_name \"x.test;\n}\n",
     ("MTLS900", 2)),
    ("extra-brace.conf", b"server { listen 443; }\n}\n", ("MTLS900", 2)),
])
def test_bad_included_file_is_reported_and_the_rest_still_analysed(tmp_path, name, data,
                                                                   expected):
    conf = tree(tmp_path, f"  include bad/{name};\n  include good.conf;",
                {f"bad/{name}": data, "good.conf": SERVER})
    document = lint_json(str(conf), cwd=tmp_path)
    found = diagnostics(document)
    if expected is None:
        assert found == set()
    else:
        rule, line = expected
        file = "nginx.conf" if rule == "MTLS904" else f"bad/{name}"
        assert found == {(file, line, rule)}, document["findings"]
    assert "MTLS001" in rules_seen(document)  # good.conf was still analysed


def test_truncated_file_keeps_its_earlier_servers(tmp_path):
    conf = tree(tmp_path, "  include site.conf;",
                {"site.conf": SERVER + "server {\n  listen 443 ssl;\n  server_name b.test;\n"
                              "  real_ip_header CF-Connecting-IP;\n  ssl_verify_client"})
    document = lint_json(str(conf), cwd=tmp_path)
    assert diagnostics(document) == {("site.conf", 10, "MTLS900")}
    assert {f["server"]["names"][0] for f in document["findings"]
            if f["rule"] == "MTLS001"} == {"ok.test"}


def test_include_cycle(tmp_path):
    conf = tree(tmp_path, "  include a.conf;", {"a.conf": "include b.conf;\n" + SERVER,
                                                  "b.conf": "\ninclude a.conf;\n"})
    document = lint_json(str(conf), cwd=tmp_path)
    assert diagnostics(document) == {("b.conf", 2, "MTLS902")}
    cycle = next(f for f in document["findings"] if f["rule"] == "MTLS902")
    assert "a.conf -> b.conf -> a.conf" in cycle["message"]


def test_missing_include_and_empty_glob(tmp_path):
    conf = tree(tmp_path, "  include missing.conf;\n  include none/*.conf;\n  include good.conf;",
                {"good.conf": SERVER})
    document = lint_json(str(conf), cwd=tmp_path)
    assert diagnostics(document) == {("nginx.conf", 3, "MTLS901")}


def test_non_utf8_is_a_warning_and_still_parsed(tmp_path):
    conf = tree(tmp_path, "  include latin1.conf;",
                {"latin1.conf": b"# caf\xe9\n" + SERVER.encode()})
    document = lint_json(str(conf), cwd=tmp_path)
    assert diagnostics(document) == {("latin1.conf", 1, "MTLS903")}
    assert "MTLS001" in rules_seen(document)


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory", "symlink-loop"])
def test_includes_that_are_not_regular_files(tmp_path, kind):
    target = tmp_path / "special"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "dev-zero":
        target.symlink_to("/dev/zero")
    elif kind == "directory":
        target.mkdir()
    else:
        (tmp_path / "loop").symlink_to(tmp_path / "special")
        target.symlink_to(tmp_path / "loop")
    conf = tree(tmp_path, "  include special;\n  include good.conf;", {"good.conf": SERVER})
    result = run_cli("--format", "json", str(conf), cwd=tmp_path, timeout=30)
    assert b"Traceback" not in result.stderr
    import json
    document = json.loads(result.stdout)
    # a link out of a checkout (to /dev/zero) is not followed onto this machine: reported on
    # the link as a file this checkout does not have
    expected = "MTLS901" if kind == "dev-zero" else "MTLS904"
    assert diagnostics(document) == {("nginx.conf", 3, expected)}
    assert "MTLS001" in rules_seen(document)


def test_binary_root_file_and_empty_root_file(tmp_path):
    binary = tmp_path / "nginx.conf"
    binary.write_bytes(b"\x7fELF\x00\x01\x02" * 100)
    document = lint_json(str(binary), cwd=tmp_path)
    assert diagnostics(document) == {("nginx.conf", None, "MTLS904")}
    empty = tmp_path / "empty.conf"
    empty.write_bytes(b"")
    result = run_cli(str(empty), cwd=tmp_path)
    assert result.returncode == 0 and b"Traceback" not in result.stderr


def test_garbage_on_stdin_is_a_usage_error(tmp_path):
    result = run_cli("-", stdin=b"just some text\n", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.decode().count("\n") == 1 and b"Traceback" not in result.stderr


def test_deep_nesting_and_long_include_chains_finish(tmp_path):
    deep = "location /a {\n" * 10000 + "}\n" * 10000
    chain = {f"c{i}.conf": f"include c{i + 1}.conf;\n" for i in range(1000)}
    chain["c1000.conf"] = ""
    conf = tree(tmp_path, "  include c0.conf;\n  server {\n" + deep + "  }",
                chain)
    document = lint_json(str(conf), cwd=tmp_path)
    rules = {f["rule"] for f in document["findings"]}
    assert rules == {"MTLS905"}


def test_crlf_line_endings(tmp_path):
    conf = tree(tmp_path, "  include crlf.conf;", {"crlf.conf": SERVER.replace("\n", "\r\n")})
    document = lint_json(str(conf), cwd=tmp_path)
    assert {(f["file"], f["line"], f["rule"]) for f in document["findings"]} == {
        ("crlf.conf", 1, "MTLS001"), ("crlf.conf", 2, "MTLS103")}


def test_comment_between_arguments_is_not_an_argument(tmp_path):
    (tmp_path / "c.conf").write_text(
        "server {\n    listen 443 ssl;\n    server_name c.test; root /var/www/c;\n    real_ip_header\n"
        "        # the header Cloudflare sets\n        CF-Connecting-IP;\n"
        "    ssl_verify_client # reviewed\n        off;\n}\n")
    document = lint_json("c.conf", cwd=tmp_path)
    assert {(f["line"], f["rule"]) for f in document["findings"]} == {(7, "MTLS001")}
