"""Hostile text that once cost quadratic time (issue 20, defects 7, 8, 11, 13, 21, 22): each
scan is checked for its answers on small inputs here; the full sizes of
../shared/reliability/ run in tests/test_reliability_sizes.py (slow)."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import cli_in_process, lint_json, run_cli, shared_file
from nginx_mtls_lint.cafile import CAStore, pem_blocks
from nginx_mtls_lint.findings import Finding
from nginx_mtls_lint.identity import message_shape
from nginx_mtls_lint.model import regex_domain, top_level_alternative
from nginx_mtls_lint.suppressions import SUPPRESSION

# The regexes these scans replaced: their answers are the reference on small inputs.
OLD_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)\s*-----END \1-----", re.DOTALL)
OLD_LOCATION = re.compile(r"\S+:\d+(?: \(inherited from http \{\}\))?")
OLD_DOMAIN = re.compile(r"((?:\\\.[A-Za-z0-9-]+)+)\$$")
PIECES = [b"-----BEGIN CERTIFICATE-----\n", b"-----END CERTIFICATE-----\n",
          b"-----BEGIN X509 CRL-----\n", b"-----END X509 CRL-----\n", b"QUJD\n", b" ", b"x"]


def damaged(data: bytes, blocks) -> bool:
    return data.count(b"-----BEGIN ") > len(blocks) or any(b"-----" in b for _, b in blocks)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=10))
def test_pem_blocks_agree_with_the_regex_they_replace(pieces):
    data = b"".join(pieces)
    old, new = OLD_PEM.findall(data), pem_blocks(data)
    # the same blocks in every well-formed file; a damaged file is damaged either way
    assert new == old or damaged(data, old) and damaged(data, new)


def test_a_ca_file_of_begin_lines_is_damaged(tmp_path):
    (tmp_path / "ca.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\n" * 2000)
    info = CAStore().inspect(str(tmp_path / "ca.pem"))
    assert info.problem is not None and "damaged PEM block" in info.problem


@pytest.mark.parametrize("pem", ["dupext", "fuzz_cert_InvalidVersion", "fuzz_cert_TypeError",
                                 "fuzz_crl_InvalidVersion", "fuzz_crl_TypeError"])
def test_every_cryptography_exception_is_a_diagnostic_on_the_file(tmp_path, pem):
    """DuplicateExtension, InvalidVersion, TypeError: once "internal error", exit 2."""
    (tmp_path / "ca.pem").write_bytes(shared_file(f"reliability/15-ca-crash/{pem}.pem")
                                      .read_bytes())
    (tmp_path / "nginx.conf").write_text(
        "events {}\nhttp {\n  server {\n    listen 443 ssl;\n    server_name a.test;\n"
        "    ssl_client_certificate ca.pem;\n    ssl_verify_client on;\n  }\n}\n")
    documents = {}
    for fmt in ("json", "sarif"):
        code, report, errors = cli_in_process("--format", fmt, "nginx.conf", cwd=tmp_path)
        assert code == 1 and "internal error" not in errors, errors
        documents[fmt] = json.loads(report)
    findings = documents["json"]["findings"]
    assert ("MTLS003", 6) in {(f["rule"], f["line"]) for f in findings}


@pytest.mark.parametrize("message", [
    "`ssl_verify_client optional` at a.conf:8 on a.test: see b/c.conf:12 (inherited from "
    "http {}) and http://127.0.0.1:3000`.",
    "x:1y:2 :80 a:1) (at f.conf:4), /" + "a" * 300 + ".pem:7",
    "no location here, 10:30 and ::1:443",
])
def test_message_shape_finds_the_locations_it_found_before(message):
    finding = Finding("MTLS002", "x", "error", message, "a.conf", 1)
    assert message_shape(finding) == OLD_LOCATION.sub("\0", message)


@pytest.mark.parametrize("regex", [
    r"~^(www\.)?r1\.test$", r"~^\.a\.b\.com$", r"~^a\.b\.com$", r"~^(?<t>.+)\.ex-1\.org$",
    r"~^x$", r"~\.com", r"~^.*\.$", "~" + r"\.a" * 50 + "x",
])
def test_regex_domain_agrees_with_the_search_it_replaced(regex):
    match = OLD_DOMAIN.search(regex)
    assert regex_domain(regex) == (match[1].replace("\\", "").lower() if match else None)


@pytest.mark.parametrize("regex,alternative", [
    (r"~^(a|b)\.x\.com$", False), (r"~^a\.com$|^b\.x\.com$", True),
    (r"~^((a|b)(c))\.x\.com$", False), (r"~^(a\.x\.com$", True), ("~^" + "(" * 500 + "a"
                                                                   + ")" * 500 + r"\.x$", False),
])
def test_top_level_alternatives(regex, alternative):
    assert top_level_alternative(regex) is alternative


@pytest.mark.parametrize("comment,reason", [
    (" nginx-mtls-lint: disable=MTLS001 -- the reason   ", "the reason"),
    (" nginx-mtls-lint: disable=MTLS001,MTLS002--x  y ", "x  y"),
    (" nginx-mtls-lint: disable = MTLS001 , MTLS002", None),
    (" nginx-mtls-lint: disable=MTLS001" + " " * 5000 + "--   spaced   ", "spaced"),
])
def test_suppression_grammar(comment, reason):
    match = SUPPRESSION.match(comment.rstrip())
    assert match is not None and (match["reason"] or "").strip() == (reason or "")


def test_a_suppression_padded_with_blanks_is_reported_short(tmp_path):
    (tmp_path / "nginx.conf").write_text(
        "events {}\nhttp {\n  server {\n    listen 80;\n    server_name a.test;\n"
        "    # nginx-mtls-lint: disable=MTLS001" + " " * 20000 + "x\n  }\n}\n")
    (finding,) = [f for f in lint_json("nginx.conf", cwd=tmp_path)["findings"]
                  if f["rule"] == "MTLS908"]
    assert finding["line"] == 6 and len(finding["message"]) < 300


def test_yaml_aliases_in_the_configuration_file_are_refused(tmp_path):
    (tmp_path / ".nginx-mtls-lint.yaml").write_text(
        "l0: &l0 {a: 1}\nl1: &l1 {k0: *l0, k1: *l0}\nfail-on: error\n")
    (tmp_path / "a.conf").write_text("server { listen 80; server_name a.test; }\n")
    result = run_cli("a.conf", cwd=tmp_path)
    assert result.returncode == 2
    assert ".nginx-mtls-lint.yaml:2: not valid YAML: the alias *l0" in result.stderr.decode()


def test_a_server_of_many_names_is_named_briefly(tmp_path):
    names = " ".join(f"s{i}.test" for i in range(500))
    (tmp_path / "a.conf").write_text(
        f"server {{\n    listen 443 ssl;\n    server_name {names};\n"
        "    real_ip_header CF-Connecting-IP;\n"
        "    location / { proxy_pass http://127.0.0.1:8080; }\n}\n")
    findings = lint_json("a.conf", cwd=tmp_path)["findings"]
    (mtls001,) = [f for f in findings if f["rule"] == "MTLS001"]
    assert "s0.test" in mtls001["message"] and "(and 492 more names)" in mtls001["message"]
    assert "s499.test" not in mtls001["message"]
