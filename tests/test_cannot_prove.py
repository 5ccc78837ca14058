""""Cannot prove" instead of silence (issue 19, part 3): a decision on a path to content that
rests on something the analysis does not model is never "held"; and never said of a construct
the catalogue marks modelled."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import FIXTURES, lint_in_process
from nginx_mtls_lint import catalogue
from nginx_mtls_lint.analysis import KINDS
from nginx_mtls_lint.flow import ServerFlow

# For each directive the catalogue marks unknown: (http {} lines, the protected location's
# lines, a variable it sets that the location's check reads, or "" when it is the handler).
UNMODELLED = {
    "perl": ("", "perl Portal::handler;", ""),
    "perl_set": ("perl_set $granted 'sub { return \"1\"; }';", "", "$granted"),
    "split_clients": ('split_clients "${remote_addr}" $granted { 50% "1"; * ""; }', "",
                      "$granted"),
    "geoip_country": ("geoip_country /usr/share/GeoIP/GeoIP.dat;", "",
                      "$geoip_country_code"),
    "geoip_city": ("geoip_city /usr/share/GeoIP/GeoIPCity.dat;", "", "$geoip_city"),
    "secure_link": ("", "secure_link $arg_md5,$arg_expires;", "$secure_link"),
    "secure_link_md5": ("", 'secure_link $arg_md5;\n secure_link_md5 "$uri secret";',
                        "$secure_link"),
    "secure_link_secret": ("", "secure_link_secret secret;", "$secure_link"),
}

SERVER = """
http {{
    {http}
    server {{
        listen 443 ssl;
        server_name internal.example.com;
        ssl_certificate     /etc/nginx/certs/server.pem;
        ssl_certificate_key /etc/nginx/certs/server.key;
        ssl_client_certificate /etc/nginx/certs/internal-ca.pem;
        ssl_verify_client optional;
        location / {{
            {location}
            {check}
        }}
    }}
}}
"""
CHECK = """set $ok "";
            if ($ssl_client_verify = SUCCESS) {{ set $ok 1; }}
            if ({variable}) {{ set $ok 1; }}
            if ($ok != 1) {{ return 403; }}
            proxy_pass http://127.0.0.1:8080;"""


def unmodelled_directives() -> list[str]:
    return sorted(name for name, entry in catalogue.load()["directives"].items()
                  if entry["decides"] and entry["model"] == "unknown")


def test_every_unmodelled_directive_has_a_case():
    assert set(UNMODELLED) == set(unmodelled_directives())


@pytest.mark.parametrize("directive", unmodelled_directives())
def test_an_unmodelled_directive_on_the_protected_path_is_not_held(directive, tmp_path):
    """The location's check depends on the directive (its variable, or its code answers):
    the server is not silently held, a warning names what was not decided."""
    http, location, variable = UNMODELLED[directive]
    check = CHECK.format(variable=variable) if variable else ""
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\n" + SERVER.format(http=http, location=location, check=check))
    result = lint_in_process([conf])
    said = [f for f in result.findings if f.severity in ("warning", "error")]
    assert said, f"{directive}: held in silence"
    assert any(directive in f.message or (variable and variable in f.message) for f in said), \
        [f.message for f in said]


def test_the_same_decision_without_the_directive_is_held(tmp_path):
    """The guard: the template's own check (the certificate alone) holds and says nothing."""
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\n" + SERVER.format(http="", location="", check=CHECK.format(
        variable="$ssl_client_verify = SUCCESS")))
    result = lint_in_process([conf])
    assert not [f for f in result.findings if f.severity in ("warning", "error")], \
        [f.message for f in result.findings]


def modelled(construct: str) -> bool:
    if construct.startswith("$"):
        return catalogue.variable_modelled(construct[1:]) and \
            catalogue.classify(construct[1:]) not in ("unknown", "configuration")
    return construct in catalogue.MODELLED_DIRECTIVES


def test_cannot_prove_never_names_a_modelled_construct():
    """Over every fixture: each "cannot prove" answer names what it rests on, and that is
    never a directive (or a variable) the catalogue marks modelled."""
    inputs = sorted(p for p in (FIXTURES / "flow").iterdir() if p.is_dir())
    inputs += sorted((FIXTURES / "rules").rglob("*.conf"))
    named = []
    for path in inputs:
        result = lint_in_process([path])
        for config in result.model.configs:
            for server in config.servers:
                flow: ServerFlow = result.analysis.flow(server)
                for kind in KINDS:
                    for each in flow.paths(kind, kind != "plain"):
                        reason = each.outcome.reason
                        construct = getattr(reason, "construct", None)
                        if each.outcome.limit and construct:
                            named.append(construct)
                            assert not modelled(construct), f"{path}: {reason}"
    assert named  # the fixtures hold such answers: the test looks at something
