"""Every rule against a real nginx: the failing fixture is really exploitable (or broken) as
the rule's page says, and the fix the rule prints, applied, closes it and silences the rule.

The configuration is linted as written (listen PORT, every address) and run by nginx with
each listener bound to 127.0.0.1 instead: the tests never listen beyond loopback.
Run one rule: `pytest -m nginx -k MTLS102`.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import key_pem, lint_in_process, make_cert, pem, shared_file
from nginx_harness import CONTENT, Nginx, free_ports
from nginx_mtls_lint import probe

pytestmark = pytest.mark.nginx
NAME, OTHER = "protected.test", "other.test"


@dataclass
class Pki:
    folder: Path

    def __getattr__(self, name: str) -> str:
        return str(self.folder / f"{name.replace('_', '-')}.pem")


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    folder = tmp_path_factory.mktemp("nginx-pki")
    x, x_key = make_cert("Protected Client CA")
    y, y_key = make_cert("Other Client CA")
    old, old_key = make_cert("Expired Client CA", days_from=-900, days_to=-1)
    files = {"x": pem(x), "y": pem(y), "xy": pem(x, y), "expired-ca": pem(old)}
    for label, issuer in (("client-x", (x, x_key)), ("client-y", (y, y_key)),
                          ("client-old", (old, old_key))):
        cert, key = make_cert(f"{label}.client", issuer=issuer, ca=False, days_to=30)
        files[label], files[f"{label}-key"] = pem(cert), key_pem(key)
    server, server_key = make_cert(NAME, ca=False)
    files["server"], files["server-key"] = pem(server), key_pem(server_key)
    for name, data in files.items():
        (folder / f"{name}.pem").write_bytes(data)
    return Pki(folder)


def aop_ca(pki: Pki) -> str:
    target = pki.folder / "origin-pull-ca.pem"
    shutil.copyfile(shared_file("data/cloudflare/origin-pull-ca.pem"), target)
    return str(target)


def server(port: int, pki: Pki, body: str = "", name: str = NAME, flags: str = "ssl") -> str:
    return (f"server {{\n    listen {port} {flags};\n    server_name {name};\n"
            f"    ssl_certificate {pki.server};\n    ssl_certificate_key {pki.server_key};\n"
            f"    root __ROOT__;\n{body}\n}}\n")


def run(tmp_path: Path, label: str, http: str, ports: list[int]):
    """Lint `http` as written; start nginx with it bound to loopback. Returns (rules, nginx)."""
    prefix = tmp_path / label
    as_written = Nginx(prefix, http.replace("__ROOT__", str(prefix / "www")))
    rules = {(f.rule, f.severity) for f in lint_in_process([as_written.conf]).findings}
    loopback = re.sub(r"listen (\d+)", r"listen 127.0.0.1:\1", as_written.conf.read_text())
    as_written.conf.write_text(loopback)
    return {r for r, _ in rules}, as_written


def probe_outcomes(port: int, pki: Pki, plain_port: int | None = None, **kw) -> dict:
    target = probe.Target("127.0.0.1", port, NAME, plain_port=plain_port,
                          content_marker=CONTENT, timeout=5, **kw)
    return {o.case: o for o in probe.probe(target)}


def without_certificate(outcomes: dict) -> list:
    return [o for case, o in outcomes.items() if "given certificate" not in case]


def client(pki: Pki, which: str) -> dict:
    return {"client_cert": getattr(pki, f"client_{which}"),
            "client_key": getattr(pki, f"client_{which}_key")}


def fixed_outcomes(tmp_path: Path, fixed: str, port: int, pki: Pki, holder: str):
    """(rules, probe outcomes) of the fixed configuration, probed with client `holder`'s
    certificate."""
    rules, nginx = run(tmp_path, "fixed", fixed, [port])
    with nginx.start([port]):
        return rules, probe_outcomes(port, pki, **client(pki, holder))


def assert_only_the_given_certificate_gets_in(outcomes: dict) -> None:
    assert not probe.bypassed(without_certificate(outcomes))
    assert outcomes["SNI, given certificate"].verdict == "CONTENT SERVED"


def fix_text(rule: str, http: str, tmp_path: Path) -> str:
    conf = tmp_path / f"fixcheck-{rule}.conf"
    conf.write_text(http.replace("__ROOT__", "/srv"))
    findings = [f for f in lint_in_process([conf]).findings if f.rule == rule]
    assert findings, f"{rule} did not fire"
    return findings[0].fix


def fixed_by(rule: str, text: str, tmp_path: Path, ca: str | None = None,
             stream: bool = False) -> str:
    """`text` (an http {} body, or a stream {} body) with the structured fixes of `rule`
    applied: the edits the linter reports, unsafe ones included, overlapping ones left out
    as `--diff` does; the conventional CA path replaced by `ca` (what the fix asks of you)."""
    from nginx_mtls_lint.report.edits import apply, chosen_fixes
    from nginx_mtls_lint.rules.fixes import AOP_CA_PATH

    conf = tmp_path / f"fix-{rule}-{len(list(tmp_path.glob('fix-*')))}.conf"
    wrapped = f"events {{}}\nstream {{\n{text}\n}}\n" if stream else text
    conf.write_text(wrapped.replace("__ROOT__", "/srv"))
    findings = [f for f in lint_in_process([conf]).findings if f.rule == rule]
    edits: list = []
    for _, fix in chosen_fixes(findings, unsafe=True):
        if all(e in edits for e in fix.edits) or any(
                e.overlaps(other) for e in fix.edits for other in edits):
            continue
        edits.extend(fix.edits)
    assert edits, f"{rule} gave no structured fix"
    fixed = apply(wrapped, edits)
    if ca is not None:
        fixed = fixed.replace(AOP_CA_PATH, ca)
    if stream:
        fixed = fixed[fixed.index("stream {\n") + len("stream {\n"):fixed.rindex("\n}\n")]
    return fixed


def test_MTLS001_no_verification_serves_anyone(tmp_path, pki):
    port, = free_ports(1)
    bad = server(port, pki, "    real_ip_header CF-Connecting-IP;")
    assert "ssl_verify_client on;" in fix_text("MTLS001", bad, tmp_path)
    fixed = fixed_by("MTLS001", bad, tmp_path, ca=aop_ca(pki))
    rules, nginx = run(tmp_path, "bad", bad, [port])
    assert "MTLS001" in rules
    with nginx.start([port]):
        assert probe_outcomes(port, pki)["SNI, no certificate"].verdict == "CONTENT SERVED"
    rules, outcomes = fixed_outcomes(tmp_path, fixed, port, pki, "x")
    assert not rules & {"MTLS001", "MTLS002", "MTLS005"}
    assert all(o.verdict == "rejected" for o in outcomes.values()), outcomes


def test_MTLS002_optional_lets_a_client_without_certificate_in(tmp_path, pki):
    port, = free_ports(1)
    body = f"    real_ip_header CF-Connecting-IP;\n    ssl_client_certificate {pki.x};\n"
    bad = server(port, pki, body + "    ssl_verify_client optional;")
    assert fix_text("MTLS002", bad, tmp_path).startswith("ssl_verify_client on;")
    fixed = fixed_by("MTLS002", bad, tmp_path)
    rules, nginx = run(tmp_path, "bad", bad, [port])
    assert "MTLS002" in rules and "MTLS006" not in rules  # one cause, one finding
    with nginx.start([port]):
        outcomes = probe_outcomes(port, pki, **client(pki, "y"))
    assert outcomes["SNI, no certificate"].verdict == "CONTENT SERVED"
    assert outcomes["SNI, given certificate"].verdict == "rejected"  # Y is checked
    rules, outcomes = fixed_outcomes(tmp_path, fixed, port, pki, "x")
    assert not rules & {"MTLS002", "MTLS006"}
    assert_only_the_given_certificate_gets_in(outcomes)


def test_MTLS003_missing_or_garbage_ca_file_breaks_nginx(tmp_path, pki):
    port, = free_ports(1)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    # the missing file is one the tree should hold (in its own folder): in a checkout, a CA
    # file outside the tree is "not available here" (tests/test_checkout.py), not missing
    for broken in (str(tmp_path / "bad-missing" / "certs" / "missing.pem"), str(garbage), None):
        ca = f"    ssl_client_certificate {broken};\n" if broken else ""  # None: no CA at all
        bad = server(port, pki, ca + "    ssl_verify_client on;")
        rules, nginx = run(tmp_path, f"bad-{Path(broken or 'none').stem}", bad, [port])
        assert "MTLS003" in rules
        assert nginx.check().returncode != 0  # nginx refuses the configuration
    # no CA at all: the fix names one (the conventional path, here the test's CA X)
    fixed = fixed_by("MTLS003", server(port, pki, "    ssl_verify_client on;"), tmp_path,
                     ca=pki.x)
    rules, nginx = run(tmp_path, "fixed", fixed, [port])
    assert "MTLS003" not in rules and nginx.check().returncode == 0
    with nginx.start([port]):
        outcomes = probe_outcomes(port, pki, **client(pki, "x"))
    assert outcomes["SNI, given certificate"].verdict == "CONTENT SERVED"


def test_MTLS004_expired_ca_rejects_valid_clients(tmp_path, pki):
    port, = free_ports(1)
    bad = server(port, pki, f"    ssl_client_certificate {pki.expired_ca};\n"
                 "    ssl_verify_client on;")
    rules, nginx = run(tmp_path, "bad", bad, [port])
    assert "MTLS004" in rules
    with nginx.start([port]):
        outcomes = probe_outcomes(port, pki, **client(pki, "old"))
    # the client's own certificate is in date; the expired anchor rejects it anyway
    assert outcomes["SNI, given certificate"].verdict == "rejected"
    fixed = server(port, pki, f"    ssl_client_certificate {pki.x};\n    ssl_verify_client on;")
    rules, nginx = run(tmp_path, "fixed", fixed, [port])
    assert "MTLS004" not in rules
    # the expired 2015 Cloudflare CA: the fix points at the current one, which nginx loads
    expired = pki.folder / "origin-pull-ca-2015.pem"
    shutil.copyfile(shared_file("data/cloudflare/origin-pull-ca-2015-expired.pem"), expired)
    cloudflare = server(port, pki, f"    ssl_client_certificate {expired};\n"
                        "    ssl_verify_client on;")
    assert "MTLS004" in run(tmp_path, "cf-2015", cloudflare, [port])[0]
    cf_rules, cf_nginx = run(tmp_path, "cf-fixed",
                             fixed_by("MTLS004", cloudflare, tmp_path, ca=aop_ca(pki)), [port])
    assert "MTLS004" not in cf_rules and cf_nginx.check().returncode == 0
    with nginx.start([port]):
        outcomes = probe_outcomes(port, pki, **client(pki, "x"))
    assert outcomes["SNI, given certificate"].verdict == "CONTENT SERVED"


def test_MTLS005_extra_ca_in_the_bundle_lets_its_holders_in(tmp_path, pki):
    port, = free_ports(1)
    bundle = tmp_path / "aop-plus-y.pem"
    bundle.write_text(Path(aop_ca(pki)).read_text() + "\n" + Path(pki.y).read_text())
    body = "    real_ip_header CF-Connecting-IP;\n    ssl_verify_client on;\n"
    bad = server(port, pki, body + f"    ssl_client_certificate {bundle};")
    assert "origin-pull-ca.pem" in fix_text("MTLS005", bad, tmp_path)
    rules, nginx = run(tmp_path, "bad", bad, [port])
    assert "MTLS005" in rules
    with nginx.start([port]):
        outcomes = probe_outcomes(port, pki, **client(pki, "y"))
    assert outcomes["SNI, given certificate"].verdict == "CONTENT SERVED"
    fixed = fixed_by("MTLS005", bad, tmp_path, ca=aop_ca(pki))
    rules, outcomes = fixed_outcomes(tmp_path, fixed, port, pki, "y")
    assert "MTLS005" not in rules
    assert all(o.verdict == "rejected" for o in outcomes.values())


def test_MTLS005_trusted_certificate_verifies_clients_too(tmp_path, pki):
    port, = free_ports(1)
    bad = server(port, pki, "    real_ip_header CF-Connecting-IP;\n    ssl_verify_client on;\n"
                 f"    ssl_client_certificate {aop_ca(pki)};\n"
                 f"    ssl_trusted_certificate {pki.y};")
    rules, nginx = run(tmp_path, "bad", bad, [port])
    assert "MTLS005" in rules
    with nginx.start([port]):
        outcomes = probe_outcomes(port, pki, **client(pki, "y"))
    assert outcomes["SNI, given certificate"].verdict == "CONTENT SERVED"
    rules, nginx = run(tmp_path, "fixed", fixed_by("MTLS005", bad, tmp_path), [port])
    assert "MTLS005" not in rules
    with nginx.start([port]):
        outcomes = probe_outcomes(port, pki, **client(pki, "y"))
    assert all(o.verdict == "rejected" for o in outcomes.values())


def test_MTLS002_handler_in_one_location_only_lists_the_open_locations(tmp_path, pki):
    """One cause (no check on the open path), one finding: MTLS002 at `optional`, each
    open location a related location; no MTLS006 for the location with no check."""
    port, = free_ports(1)
    body = (f"    real_ip_header CF-Connecting-IP;\n    ssl_client_certificate {pki.x};\n"
            "    ssl_verify_client optional;\n")
    guard = "if ($ssl_client_verify != SUCCESS) { return 403; }"
    bad = server(port, pki, body + f"    location /app/ {{ {guard} }}\n    location / {{ }}")
    conf = tmp_path / "listed.conf"
    conf.write_text(bad.replace("__ROOT__", "/srv"))
    found = [f for f in lint_in_process([conf]).findings if f.rule in ("MTLS002", "MTLS006")]
    assert [f.rule for f in found] == ["MTLS002"]
    assert [r.label.split(":")[1].strip() for r in found[0].related
            if r.label.startswith("open:")] == ["`location /`"]
    fixed = fixed_by("MTLS002", bad, tmp_path)
    rules, nginx = run(tmp_path, "bad", bad, [port])
    with nginx.start([port]):
        assert probe_outcomes(port, pki, path="/app/")["SNI, no certificate"].verdict == "rejected"
        assert probe_outcomes(port, pki)["SNI, no certificate"].verdict == "CONTENT SERVED"
    rules, outcomes = fixed_outcomes(tmp_path, fixed, port, pki, "x")
    assert not rules & {"MTLS002", "MTLS006"}
    assert_only_the_given_certificate_gets_in(outcomes)


def test_MTLS006_check_that_lets_a_client_without_certificate_through(tmp_path, pki):
    port, = free_ports(1)
    body = (f"    real_ip_header CF-Connecting-IP;\n    ssl_client_certificate {pki.x};\n"
            "    ssl_verify_client optional;\n")
    guard = "if ($ssl_client_verify != SUCCESS) { return 403; }"
    bad = server(port, pki, body + "    if ($ssl_client_verify ~ FAILED) { return 403; }\n"
                 "    location / { }")
    assert guard in fix_text("MTLS006", bad, tmp_path)
    fixed = fixed_by("MTLS006", bad, tmp_path)
    rules, nginx = run(tmp_path, "bad", bad, [port])
    assert "MTLS006" in rules and "MTLS002" not in rules  # the check is the cause
    with nginx.start([port]):
        assert probe_outcomes(port, pki)["SNI, no certificate"].verdict == "CONTENT SERVED"
    rules, outcomes = fixed_outcomes(tmp_path, fixed, port, pki, "x")
    assert "MTLS006" not in rules and ("MTLS002" in rules)  # warning: `on` needs no handler
    assert_only_the_given_certificate_gets_in(outcomes)


def test_MTLS914_regex_location_not_modelled_is_not_held(tmp_path, pki):
    """A regex location in PCRE syntax the simulator does not run (`(?U)`) is served to a
    client without a certificate: the linter says it cannot prove the server held, and
    a server-level check (what the fix names) closes it whatever the location."""
    port, = free_ports(1)
    guard = "if ($ssl_client_verify != SUCCESS) { return 403; }"
    body = (f"    ssl_client_certificate {pki.x};\n    ssl_verify_client optional;\n"
            f"    location / {{ {guard} }}\n"
            '    location ~ "^/(?U)api.+x" { try_files /index.html =404; }')
    rules, nginx = run(tmp_path, "bad", server(port, pki, body), [port])
    assert "MTLS914" in rules
    with nginx.start([port]):
        outcomes = probe_outcomes(port, pki, path="/api-x")
    assert outcomes["SNI, no certificate"].verdict == "CONTENT SERVED"
    fixed = server(port, pki, body.replace("    location / {", f"    {guard}\n    location / {{"))
    rules, nginx = run(tmp_path, "fixed", fixed, [port])
    assert "MTLS914" not in rules
    with nginx.start([port]):
        outcomes = probe_outcomes(port, pki, path="/api-x")
    assert not probe.bypassed(without_certificate(outcomes))


def test_MTLS101_plain_http_twin_and_plain_ipv6_style_listener(tmp_path, pki):
    tls, plain = free_ports(2)
    protected = server(tls, pki, f"    ssl_client_certificate {pki.x};\n"
                       "    ssl_verify_client on;")
    twin = (f"server {{\n    listen {plain};\n    server_name {NAME};\n"
            "    root __ROOT__;\n}\n")
    rules, nginx = run(tmp_path, "bad", protected + twin, [tls, plain])
    assert "MTLS101" in rules
    with nginx.start([tls, plain]):
        outcomes = probe_outcomes(tls, pki, plain_port=plain)
    assert outcomes["plain HTTP"].verdict == "CONTENT SERVED"
    assert outcomes["SNI, no certificate"].verdict == "rejected"
    assert "return 301 https://$host$request_uri;" in fix_text("MTLS101", protected + twin,
                                                               tmp_path)
    fixed = fixed_by("MTLS101", protected + twin, tmp_path)
    rules, nginx = run(tmp_path, "fixed", fixed, [tls, plain])
    assert "MTLS101" not in rules
    with nginx.start([tls, plain]):
        assert probe_outcomes(tls, pki, plain_port=plain)["plain HTTP"].verdict == "redirected"


def test_MTLS101_ssl_flag_belongs_to_the_address_port(tmp_path, pki):
    port, = free_ports(1)
    # `listen PORT;` without ssl and no other server declaring it: plain HTTP on "the TLS port"
    bad = server(port, pki, f"    ssl_client_certificate {pki.x};\n    ssl_verify_client on;",
                 flags="")
    rules, nginx = run(tmp_path, "bad", bad, [port])
    assert "MTLS101" in rules
    with nginx.start([port]):
        outcomes = probe_outcomes(port, pki, plain_port=port)
    assert outcomes["plain HTTP"].verdict == "CONTENT SERVED"
    # another server's `ssl` on the same address:port makes it TLS for this one too
    fixed = server(port, pki, name="www.test", flags="ssl default_server") + bad
    rules, nginx = run(tmp_path, "fixed", fixed, [port])
    assert "MTLS101" not in rules
    with nginx.start([port]):
        outcomes = probe_outcomes(port, pki, plain_port=port)
    assert outcomes["plain HTTP"].verdict == "rejected"
    assert outcomes["SNI, no certificate"].verdict == "rejected"
    # and the rule's own fix: `ssl` on the listener
    rules, nginx = run(tmp_path, "own-fix", fixed_by("MTLS101", bad, tmp_path), [port])
    assert "MTLS101" not in rules
    with nginx.start([port]):
        outcomes = probe_outcomes(port, pki, plain_port=port)
    assert outcomes["plain HTTP"].verdict == "rejected"
    assert outcomes["SNI, no certificate"].verdict == "rejected"


def shared_socket(port: int, pki: Pki) -> tuple[str, str]:
    """B6: a default server verifying CA Y, and the protected server verifying CA X."""
    partner = server(port, pki, f"    ssl_client_certificate {pki.y};\n"
                     "    ssl_verify_client on;", name=OTHER, flags="ssl default_server")
    protected = server(port, pki, f"    ssl_client_certificate {pki.x};\n"
                       "    ssl_verify_client on;")
    return partner, protected


def test_MTLS102_default_server_of_another_ca_lets_its_clients_in(tmp_path, pki):
    port, = free_ports(1)
    partner, protected = shared_socket(port, pki)
    rules, nginx = run(tmp_path, "bad", partner + protected, [port])
    assert "MTLS102" in rules
    with nginx.start([port]):
        outcomes = probe_outcomes(port, pki, **client(pki, "y"))
    assert outcomes["no SNI, given certificate"].verdict == "CONTENT SERVED"
    assert outcomes["SNI, given certificate"].verdict == "rejected"
    assert "ssl_reject_handshake on;" in fix_text("MTLS102", partner + protected, tmp_path)
    fixed = fixed_by("MTLS102", partner + protected, tmp_path)
    rules, outcomes = fixed_outcomes(tmp_path, fixed, port, pki, "y")
    assert "MTLS102" not in rules
    assert not probe.bypassed(list(outcomes.values()))
    assert "TLS handshake failed" in outcomes["no SNI, given certificate"].detail


def test_MTLS103_default_server_shows_its_certificate_without_sni(tmp_path, pki):
    port, = free_ports(1)
    protected = server(port, pki, "    real_ip_header CF-Connecting-IP;\n"
                       f"    ssl_client_certificate {aop_ca(pki)};\n    ssl_verify_client on;",
                       flags="ssl default_server")
    rules, nginx = run(tmp_path, "bad", protected, [port])
    assert "MTLS103" in rules
    with nginx.start([port]):
        outcome = probe_outcomes(port, pki)["no SNI, no certificate"]
    assert NAME in (outcome.server_certificate or "")
    assert outcome.verdict == "rejected"  # no content: only the certificate leaks
    rules, nginx = run(tmp_path, "fixed", fixed_by("MTLS103", protected, tmp_path), [port])
    assert "MTLS103" not in rules
    with nginx.start([port]):
        outcome = probe_outcomes(port, pki)["no SNI, no certificate"]
    assert outcome.server_certificate is None and "handshake failed" in outcome.detail


@pytest.mark.parametrize("directive,case", [
    ("error_page 496 = /index.html;", "SNI, no certificate"),
    ("error_page 495 496 /index.html;", "SNI, no certificate"),  # status 400, body leaks
    ("error_page 400 = /index.html;", "SNI, malformed request (400 before the certificate check)"),
    ("error_page 497 = /index.html;", "plain HTTP"),
])
def test_MTLS104_error_page_serves_the_content(tmp_path, pki, directive, case):
    port, = free_ports(1)
    body = f"    ssl_client_certificate {pki.x};\n    ssl_verify_client on;\n"
    bad = server(port, pki, body + f"    {directive}")
    rules, nginx = run(tmp_path, "bad", bad, [port])
    assert "MTLS104" in rules
    with nginx.start([port]):
        outcome = probe_outcomes(port, pki)[case]
    assert outcome.verdict == "CONTENT SERVED", outcome
    assert "=403 /cert-required.html" in fix_text("MTLS104", bad, tmp_path)
    rules, nginx = run(tmp_path, "fixed", fixed_by("MTLS104", bad, tmp_path), [port])
    assert "MTLS104" not in rules
    with nginx.start([port]):
        outcomes = probe_outcomes(port, pki)
    assert not probe.bypassed(list(outcomes.values())), outcomes


def test_location_error_page_is_ignored_for_certificate_and_malformed_request_errors(
        tmp_path, pki):
    """Why MTLS104 reads only server- and http-level error_page: nginx raises these errors
    before a location is chosen, so a location's error_page never applies to them."""
    port, = free_ports(1)
    conf = server(port, pki, f"    ssl_client_certificate {pki.x};\n    ssl_verify_client on;\n"
                  "    location / {\n        error_page 400 495 496 497 = /index.html;\n    }")
    rules, nginx = run(tmp_path, "loc", conf, [port])
    assert "MTLS104" not in rules
    with nginx.start([port]):
        outcomes = probe_outcomes(port, pki)
    assert not probe.bypassed(list(outcomes.values())), outcomes


def test_probe_command_shows_the_shared_socket_bypass_and_its_fix(tmp_path, pki):
    import json

    from conftest import run_cli

    port, = free_ports(1)
    partner, protected = shared_socket(port, pki)
    args = ["probe", f"127.0.0.1:{port}", "--name", NAME, "--other-name", OTHER,
            "--client-cert", pki.client_y, "--client-key", pki.client_y_key,
            "--content-marker", CONTENT, "--timeout", "5"]
    _, nginx = run(tmp_path, "bad", partner + protected, [port])
    with nginx.start([port]):
        table = run_cli(*args)
        document = run_cli(*args, "--format", "json")
    assert table.returncode == 1 and "CONTENT SERVED" in table.stdout.decode()
    results = {r["case"]: r for r in json.loads(document.stdout)["results"]}
    assert document.returncode == 1
    assert results["no SNI, given certificate"]["verdict"] == "CONTENT SERVED"
    assert results["no SNI, given certificate"]["status"] == 200
    assert results[f"SNI {OTHER}, Host {NAME}"]["status"] == 421  # misdirected, not content
    reject = (f"server {{\n    listen {port} ssl default_server;\n"
              "    ssl_reject_handshake on;\n}\n")
    _, nginx = run(tmp_path, "fixed", reject + partner.replace(" default_server", "")
                   + protected, [port])
    with nginx.start([port]):
        document = run_cli(*args, "--format", "json")
    results = {r["case"]: r for r in json.loads(document.stdout)["results"]}
    assert document.returncode == 0
    assert results["no SNI, given certificate"]["verdict"] == "rejected"
    assert all(r["verdict"] != "CONTENT SERVED" for r in results.values())


def test_MTLS007_lower_case_success_refuses_the_valid_client(tmp_path, pki):
    port, = free_ports(1)
    body = f"    ssl_client_certificate {pki.x};\n    ssl_verify_client optional;\n"
    bad = server(port, pki, body + "    if ($ssl_client_verify != success) { return 403; }")
    fixed = server(port, pki, body + "    if ($ssl_client_verify != SUCCESS) { return 403; }")
    rules, nginx = run(tmp_path, "bad", bad, [port])
    assert "MTLS007" in rules
    with nginx.start([port]):
        assert probe_outcomes(port, pki, **client(pki, "x"))[
            "SNI, given certificate"].verdict == "rejected"
    rules, outcomes = fixed_outcomes(tmp_path, fixed, port, pki, "x")
    assert "MTLS007" not in rules
    assert outcomes["SNI, given certificate"].verdict == "CONTENT SERVED"
    assert not probe.bypassed(without_certificate(outcomes))


def test_MTLS106_first_server_for_a_name_answers_it(tmp_path, pki):
    port, = free_ports(1)
    protected = server(port, pki, f"    ssl_client_certificate {pki.x};\n"
                                  "    ssl_verify_client on;")
    bad = server(port, pki) + protected
    rules, nginx = run(tmp_path, "bad", bad, [port])
    assert "MTLS106" in rules
    with nginx.start([port]):
        assert probe_outcomes(port, pki)["SNI, no certificate"].verdict == "CONTENT SERVED"
    rules, nginx = run(tmp_path, "fixed", protected, [port])
    assert "MTLS106" not in rules
    with nginx.start([port]):
        assert not probe.bypassed(without_certificate(probe_outcomes(port, pki)))


def test_MTLS108_unverified_tls_port_for_the_same_name(tmp_path, pki):
    port, dev = free_ports(2)
    verify = f"    ssl_client_certificate {pki.x};\n    ssl_verify_client on;"
    protected = server(port, pki, verify)
    rules, nginx = run(tmp_path, "bad", protected + server(dev, pki), [port, dev])
    assert "MTLS108" in rules
    with nginx.start([port, dev]):
        assert probe_outcomes(dev, pki)["SNI, no certificate"].verdict == "CONTENT SERVED"
    rules, nginx = run(tmp_path, "fixed", protected + server(dev, pki, verify), [port, dev])
    assert "MTLS108" not in rules
    with nginx.start([port, dev]):
        assert not probe.bypassed(without_certificate(probe_outcomes(dev, pki)))


def _get_with_header(port: int, header: str, value: str) -> int:
    import http.client
    import ssl
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=5)
    try:
        connection.request("GET", "/", headers={"Host": NAME, header: value})
        return connection.getresponse().status
    finally:
        connection.close()


def test_MTLS107_trusting_every_address_lets_a_client_pick_its_own(tmp_path, pki):
    port, = free_ports(1)
    body = ("    real_ip_header X-Forwarded-For;\n    set_real_ip_from {trusted};\n"
            "    location / {{ allow 10.0.0.0/8; deny all; }}")
    bad = server(port, pki, body.format(trusted="0.0.0.0/0"))
    fixed = server(port, pki, body.format(trusted="10.0.0.0/8"))
    rules, nginx = run(tmp_path, "bad", bad, [port])
    assert "MTLS107" in rules
    with nginx.start([port]):
        assert _get_with_header(port, "X-Forwarded-For", "10.1.2.3") == 200
    rules, nginx = run(tmp_path, "fixed", fixed, [port])
    assert "MTLS107" not in rules
    with nginx.start([port]):
        assert _get_with_header(port, "X-Forwarded-For", "10.1.2.3") == 403


def test_MTLS009_unknown_directive_fails_nginx_t(tmp_path, pki):
    port, = free_ports(1)
    bad = server(port, pki, "    ssl_verify_clinet on;")
    rules, nginx = run(tmp_path, "bad", bad, [port])
    assert "MTLS009" in rules
    check = nginx.check()
    assert check.returncode != 0 and 'unknown directive "ssl_verify_clinet"' in check.stderr
    rules, nginx = run(tmp_path, "fixed", server(port, pki, "    http2_max_concurrent_streams"
                                                              " 64;"), [port])
    assert "MTLS009" not in rules and nginx.check().returncode == 0


@pytest.mark.parametrize("body,block", [
    # an `if` that reaches limit_except through an include (facts §8)
    ("    location / {{ limit_except GET {{ include {snippet}; }} }}", "limit_except"),
    ("    location / {{ ssl_verify_client on; }}", "location"),
    # only the rewrite module's directives in a server-level `if` (NGX_HTTP_SIF_CONF)
    ("    if ($ssl_client_verify != SUCCESS) {{ add_header X-Client none; }}", "if"),
    # and no `if` inside an `if`
    ("    location / {{ if ($https) {{ if ($ssl_client_verify) {{ return 403; }} }} }}", "if"),
])
def test_directive_in_a_block_nginx_refuses_is_mtls900(tmp_path, pki, body, block):
    port, = free_ports(1)
    prefix = tmp_path / "ctx"
    prefix.mkdir()
    snippet = prefix / "check.conf"  # inside the tree: one outside it is not read
    snippet.write_text("if ($ssl_client_verify != SUCCESS) { return 403; }\n")
    conf = server(port, pki, f"    ssl_client_certificate {pki.x};\n"
                  + body.format(snippet=snippet))
    nginx = Nginx(prefix, conf.replace("__ROOT__", str(prefix / "www")))
    findings = [f for f in lint_in_process([nginx.conf]).findings if f.rule == "MTLS900"]
    assert findings and f"(in {block})" in findings[0].message
    check = nginx.check()
    assert check.returncode != 0 and "is not allowed here" in check.stderr


def test_which_returns_go_through_error_page(tmp_path):
    """ngx_http_script_return_code: a text is sent as it is; a bare 4xx status and any
    redirect (return or rewrite) go through error_page (tests/test_flow.py models the same)."""
    import urllib.error
    import urllib.request

    port, = free_ports(1)
    http = (f"server {{\n    listen 127.0.0.1:{port};\n"
            "    error_page 403 302 = @app;\n    location @app { return 200 APP; }\n"
            "    location /text { return 403 no; }\n    location /bare { return 403; }\n"
            "    location /redirect { return 302 /elsewhere; }\n"
            "    location /rewrite { rewrite ^ /elsewhere redirect; }\n}\n")
    nginx = Nginx(tmp_path / "returns", http)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)

    def body(path: str) -> str:
        try:
            return opener.open(f"http://127.0.0.1:{port}{path}", timeout=5).read().decode()
        except urllib.error.HTTPError as e:
            return e.read().decode()

    with nginx.start([port]):
        assert body("/text") == "no"
        assert body("/bare") == body("/redirect") == body("/rewrite") == "APP"
