"""A regex nginx refuses (`nginx -t`: pcre2_compile() failed) is MTLS900 where it is written;
one PCRE accepts (escaped, quoted, in a class, in a comment) is not. Each case is shown on a
real nginx (issue 20, defect 16)."""

from __future__ import annotations

import pytest

from conftest import lint_in_process
from nginx_harness import Nginx
from nginx_mtls_lint.directives import pcre_refusal

pytestmark = pytest.mark.nginx
SERVER = "server {{\n    listen 127.0.0.1:18999;\n    server_name {name};\n{body}\n}}\n"


def case(location: str = "", name: str = "a.test", http: str = "") -> str:
    body = f"    location {location} {{ return 404; }}" if location else \
        "    location / { return 404; }"
    return http + SERVER.format(name=name, body=body)


REFUSED = {
    "unclosed group": (case('~ "^/(unclosed"'), "missing closing parenthesis"),
    "unmatched )": (case("~ ^/a)b"), "unmatched closing parenthesis"),
    "unclosed class": (case("~ ^/[abc"), "missing terminating ] for character class"),
    "posix class unclosed": (case("~* ^/[[:alpha:]"), "missing terminating ]"),
    "unclosed comment": (case('~ "^/(?#note"'), "missing ) after (?# comment"),
    "server_name": (case(name="~^(www.a.test"), "missing closing parenthesis"),
    # unquoted, `{` ends the word: nginx compiles "^/a/([0-9]" and opens the block there
    "unquoted repeat": (case("~ ^/a/([0-9]{4})/"), "missing closing parenthesis"),
    "map key": (case(http="map $uri $m {\n    ~^/(x 1;\n}\n"), "missing closing parenthesis"),
    "if": (case().replace("return 404; }", 'if ($uri ~ "^/(x") { return 403; } return 404; }'),
           "missing closing parenthesis"),
    "rewrite": (case().replace("return 404; }", "rewrite ^/(x /y; return 404; }"),
                "missing closing parenthesis"),
}
ACCEPTED = {
    "escaped": case(r"~ ^/\(x"),
    "in a class": case("~ ^/[(]x"),
    "] first in a class": case("~ ^/[]()]x"),
    "negated ] first": case("~ ^/[^])]x"),
    "quoted": case(r"~ ^/\Q(\Ex"),
    "comment": case('~ "^/(?#a (note)x"'),
    "posix class": case("~ ^/[[:alpha:](]+$"),
    "extended mode": case('~ "(?x)^/a # (comment"'),
    "nested groups": case("~ ^/((a)(?:b|c))+$"),
}


@pytest.mark.parametrize("name", REFUSED)
def test_a_regex_nginx_refuses_is_mtls900(tmp_path, name):
    http, error = REFUSED[name]
    nginx = Nginx(tmp_path / "refused", http)
    check = nginx.check()
    assert check.returncode != 0 and f"pcre2_compile() failed: {error}" in check.stderr
    findings = [f for f in lint_in_process([nginx.conf]).findings
                if f.rule == "MTLS900" and "pcre2_compile() failed" in f.message]
    assert len(findings) == 1 and error in findings[0].message
    line = next(n for n, text in enumerate(nginx.conf.read_text().split("\n"), 1)
                if "(x" in text or "unclosed" in text or "([0-9]" in text or "a)b" in text or "[abc" in text
                or "[[:alpha:]" in text or "(?#note" in text or "(www" in text)
    assert findings[0].line == line


@pytest.mark.parametrize("name", ACCEPTED)
def test_a_regex_pcre_accepts_is_not_reported_fp(tmp_path, name):
    nginx = Nginx(tmp_path / "accepted", ACCEPTED[name])
    check = nginx.check()
    assert check.returncode == 0, check.stderr
    assert not [f for f in lint_in_process([nginx.conf]).findings if f.rule == "MTLS900"]


def test_the_checker_is_one_pass():
    """Hostile sizes stay linear: nested groups and long classes."""
    assert pcre_refusal("(" * 100000 + ")" * 100000) is None
    assert pcre_refusal("[" + "a" * 200000) == "missing terminating ] for character class"
    assert pcre_refusal("\\Q" + "(" * 1000) is None  # quoted to the end
