"""The configuration file and inline suppressions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import lint_json, run_cli

CF_OPTIONAL = """server {
    listen 443 ssl;
    server_name api.example.com;
    real_ip_header CF-Connecting-IP;
    ssl_verify_client optional_no_ca;
}
"""


def findings(document: dict) -> set[tuple[str, int, str]]:
    return {(f["file"], f["line"], f["rule"]) for f in document["findings"]
            if not f.get("suppressed")}


@pytest.mark.parametrize("text,line,key", [
    ("fail-on: warning\nfial-on: error\n", 2, "fial-on"),
    ("rules:\n  MTLS002: warning\n  MTLS999: off\n", 3, "rules.MTLS999"),
    ("cloudflare:\n  hosts: [a.example.com]\n  host: b\n", 3, "cloudflare.host"),
    ("expiry-warning-days: soon\n", 1, "expiry-warning-days"),
    ("rules:\n  verify-client-not-on: loud\n", 2, "rules.verify-client-not-on"),
])
def test_bad_configuration_exits_2_naming_file_line_and_key(tmp_path: Path, text, line, key):
    (tmp_path / ".nginx-mtls-lint.yaml").write_text(text)
    (tmp_path / "a.conf").write_text(CF_OPTIONAL)
    result = run_cli("a.conf", cwd=tmp_path)
    assert result.returncode == 2
    error = result.stderr.decode()
    assert f".nginx-mtls-lint.yaml:{line}: {key}:" in error and "Traceback" not in error
    assert error.count("\n") == 1


def test_configuration_selects_overrides_and_cli_wins(tmp_path: Path):
    (tmp_path / "sub").mkdir()
    (tmp_path / ".nginx-mtls-lint.yaml").write_text(
        "fail-on: error\nrules:\n  verify-client-not-on: warning\n  MTLS006: off\n"
        "  default-server-exposes-origin: off\n"
        "cloudflare:\n  exclude-hosts: ['*.internal']\n")
    (tmp_path / "sub" / "a.conf").write_text(CF_OPTIONAL)
    result = run_cli("--format", "json", "a.conf", cwd=tmp_path / "sub")  # found upward
    document = json.loads(result.stdout)
    assert [(f["rule"], f["severity"]) for f in document["findings"]] == [("MTLS002", "warning")]
    assert result.returncode == 0  # fail-on: error
    assert run_cli("--fail-on", "warning", "a.conf", cwd=tmp_path / "sub").returncode == 1


def test_pyproject_table_and_explicit_config(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text(
        "[project]\nname = 'x'\n\n[tool.nginx-mtls-lint]\nfail-on = 'error'\n"
        "unknown-key = 1\n")
    (tmp_path / "a.conf").write_text(CF_OPTIONAL)
    result = run_cli("a.conf", cwd=tmp_path)
    assert result.returncode == 2 and "pyproject.toml:6: unknown-key:" in result.stderr.decode()
    good = tmp_path / "lint.yaml"
    good.write_text("cloudflare:\n  exclude-hosts: ['api.example.com']\n")
    result = run_cli("--config", str(good), "a.conf", cwd=tmp_path)
    # Not Cloudflare-fronted any more; optional_no_ca with nothing reading the result remains.
    assert result.returncode == 1 and b"MTLS001" not in result.stdout
    assert run_cli("--config", str(tmp_path / "nope.yaml"), "a.conf", cwd=tmp_path).returncode == 2


def test_path_map_and_prefix_from_configuration(tmp_path: Path):
    (tmp_path / "deploy" / "snippets").mkdir(parents=True)
    (tmp_path / "deploy" / "nginx.conf").write_text(
        "events {}\nhttp {\n  include /etc/nginx/snippets/*.conf;\n}\n")
    (tmp_path / "deploy" / "snippets" / "a.conf").write_text(CF_OPTIONAL)
    (tmp_path / ".nginx-mtls-lint.yaml").write_text("path-map:\n  /etc/nginx: deploy\n")
    document = lint_json("deploy/nginx.conf", cwd=tmp_path)
    assert ("deploy/snippets/a.conf", 5, "MTLS002") in findings(document)


SUPPRESSED = """server {  if ($ssl_client_verify = FAILED) { return 403; }
    listen 443 ssl;
    server_name api.example.com; root /var/www/api;  # nginx-mtls-lint: disable=MTLS001 -- nothing at this line
    real_ip_header CF-Connecting-IP;
    ssl_verify_client optional_no_ca;  # nginx-mtls-lint: disable=verify-client-not-on -- reviewed
}
server {  if ($ssl_client_verify = FAILED) { return 403; }  # nginx-mtls-lint: disable=MTLS006
    listen 443 ssl;
    server_name b.example.com; root /var/www/b;
    real_ip_header CF-Connecting-IP;
    # nginx-mtls-lint: disable-next-line=MTLS002 -- accepted risk, ticket 42
    ssl_verify_client optional_no_ca;
}
server {  if ($ssl_client_verify = FAILED) { return 403; }
    listen 443 ssl;
    server_name c.example.com; root /var/www/c;
    # nginx-mtls-lint: disable MTLS002
    real_ip_header CF-Connecting-IP;
    ssl_verify_client optional_no_ca;
}
"""


def test_suppressions_silence_exactly_their_target(tmp_path: Path):
    (tmp_path / "s.conf").write_text(SUPPRESSED)
    document = lint_json("s.conf", cwd=tmp_path)
    suppressed = {(f["line"], f["rule"], f["suppression_reason"]) for f in document["findings"]
                  if f.get("suppressed")}
    assert suppressed == {
        (5, "MTLS002", "reviewed"),
        (7, "MTLS006", None),
        (12, "MTLS002", "accepted risk, ticket 42"),
    }
    assert findings(document) == {
        ("s.conf", 1, "MTLS006"),  # the first server's MTLS006 is not suppressed
        ("s.conf", 3, "MTLS907"),  # unused: nothing is reported at that line
        ("s.conf", 7, "MTLS906"),  # no reason given
        ("s.conf", 14, "MTLS006"),
        ("s.conf", 17, "MTLS908"),  # malformed: space instead of '='
        ("s.conf", 19, "MTLS002"),  # so this stays reported
    }


def test_standalone_disable_covers_rest_of_block_until_enable(tmp_path: Path):
    (tmp_path / "s.conf").write_text(
        "# nginx-mtls-lint: disable=MTLS002 -- legacy block, see ticket 7\n"
        + CF_OPTIONAL.replace("server_name api", "server_name a")
        + "# nginx-mtls-lint: enable=MTLS002\n"
        + CF_OPTIONAL.replace("server_name api", "server_name b"))
    document = lint_json("s.conf", cwd=tmp_path)
    assert {(f["line"], f["rule"]) for f in document["findings"] if f.get("suppressed")} == {
        (6, "MTLS002")}
    assert ("s.conf", 13, "MTLS002") in findings(document)
