"""One analysis for every command (issue 18): `trace`, the command itself with `--format json`,
gives the verdict that `lint`'s analysis gave for the same server, client kind, source,
method and URI, on every labelled flow case; the issuer pin that once split them."""

from __future__ import annotations

import contextlib
import gc
import io
import json
from pathlib import Path

import pytest

from conftest import lint_in_process, make_cert, pem
from nginx_mtls_lint import cli
from nginx_mtls_lint.analysis import KINDS
from test_flow_fixtures import CASES, flow_certs  # noqa: F401 (a fixture)


def trace_json(*argv: str) -> dict:
    out = io.StringIO()
    collecting = gc.isenabled()  # the command turns the collector off for its run
    try:
        with contextlib.redirect_stdout(out):
            code = cli.main(["trace", *argv, "--format", "json"])
    finally:
        if collecting:
            gc.enable()
    assert code in (0, 1), (argv, code)
    return json.loads(out.getvalue())


def disagreements(paths: list[Path], trace_flags: list[str], **lint_kw) -> tuple[list[str], int]:
    """Every request `lint` simulated that `trace` answers otherwise (or not at all), and how
    many requests were compared."""
    result = lint_in_process(paths, **lint_kw)
    assert result.analysis is not None
    wrong: list[str] = []
    compared = 0
    for flow in result.analysis.flows():
        asked = {(p.client.kind, p.client.via_cloudflare, p.client.method, p.uri):
                 str(p.result.verdict) for p in flow.simulated()
                 if p.client.kind in KINDS and not p.client.tunnel}
        if not asked:
            continue
        server = flow.server
        argv = [str(p) for p in paths] + trace_flags + ["--server", f"{server.file}:{server.line}"]
        for kind in sorted({k[0] for k in asked}):
            argv += ["--client", kind]
        for via in sorted({k[1] for k in asked}):
            argv += ["--via", "cloudflare" if via else "direct"]
        for method in sorted({k[2] for k in asked}):
            argv += ["--method", method]
        for uri in dict.fromkeys(k[3] for k in asked):
            argv += ["--uri", uri]
        document = trace_json(*argv)
        (traced,) = [s for s in document["servers"]
                     if (s["server"]["file"], s["server"]["line"]) == (server.file, server.line)]
        answers = {(r["client"], r["via_cloudflare"], r["method"], r["uri"]): r["reaches_content"]
                   for r in traced["results"]}
        for key, verdict in asked.items():
            compared += 1
            if answers.get(key) != verdict:
                wrong.append(f"{server.file}:{server.line} {key}: lint {verdict}, "
                             f"trace {answers.get(key)}")
    return wrong, compared


def test_trace_and_lint_agree_on_an_issuer_pin(tmp_path):
    """`ssl_verify_client on` with the CA `CN=Right CA` and a check refusing every issuer but
    `CN=Wrong CA`: the valid client is refused on every URI (MTLS007), and `trace` says so
    too (it once built the flow without the issuers the CA file names)."""
    ca, _ = make_cert("Right CA")
    (tmp_path / "ca.pem").write_bytes(pem(ca))
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""events {{}}
http {{
    server {{
        listen 443 ssl;
        server_name app.example.com;
        ssl_certificate {tmp_path}/ca.pem;
        ssl_certificate_key {tmp_path}/ca.pem;
        ssl_client_certificate {tmp_path}/ca.pem;
        ssl_verify_client on;
        if ($ssl_client_i_dn != "CN=Wrong CA") {{ return 403; }}
        location / {{ root /srv; }}
    }}
}}
""")
    result = lint_in_process([conf])
    assert [(f.rule, f.line) for f in result.findings if f.rule == "MTLS007"] == [
        ("MTLS007", 10)]
    document = trace_json(str(conf), "--server", "app.example.com", "--client", "valid")
    (valid,) = document["servers"][0]["results"]
    assert valid["reaches_content"] == "no" and valid["status"] == 403
    wrong, compared = disagreements([conf], [])
    assert wrong == [] and compared >= 4  # the valid client on each URI MTLS007 tried


def _case_flags(folder: Path, fingerprint: str) -> tuple[list[str], dict]:
    flags = ["--path-map", f"/etc/nginx/certs={folder}", "--expect-ca", f"*={fingerprint}"]
    kw = {"path_map": [("/etc/nginx/certs", str(folder))],
          "expected_cas": [("*", frozenset({fingerprint}))]}
    return flags, kw


@pytest.mark.parametrize("case", CASES[::15], ids=lambda p: p.name)
def test_trace_and_lint_agree_on_a_sample_of_the_labelled_cases(case: Path, flow_certs):
    flags, kw = _case_flags(*flow_certs)
    wrong, _ = disagreements([case / "nginx.conf"], flags, **kw)
    assert wrong == []


@pytest.mark.slow
def test_trace_and_lint_agree_on_every_labelled_case(flow_certs):
    flags, kw = _case_flags(*flow_certs)
    wrong, compared = [], 0
    for case in CASES:
        found, count = disagreements([case / "nginx.conf"], flags, **kw)
        wrong += found
        compared += count
    assert wrong == [], "\n".join(wrong[:20])
    assert compared > 10 * len(CASES)


def test_reporters_never_import_the_flow_or_the_rules():
    """Reporters render what the analysis and the engine answered: they import neither the
    simulator nor the rules (outside type annotations)."""
    import ast

    import nginx_mtls_lint.report as report

    for path in Path(report.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        guarded = {id(node) for stmt in ast.walk(tree) if isinstance(stmt, ast.If)
                   and "TYPE_CHECKING" in ast.unparse(stmt.test) for node in ast.walk(stmt)}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and id(node) not in guarded:
                module = (node.module or "").split(".")
                assert not {"flow", "rules"} & set(module), f"{path.name}: {ast.unparse(node)}"


# --------------------------------------------------------------------------- causes

def test_no_rule_module_names_another_rule():
    """A rule selects the paths of its own causes; it never names another rule (outside its
    documentation, which may point the reader to one)."""
    import io
    import re
    import tokenize

    import nginx_mtls_lint.rules as rules

    rule_id = re.compile(r"\bMTLS\d{3}\b")
    for path in sorted(Path(rules.__file__).parent.glob("mtls*.py")):
        own = path.name[:7].upper()
        previous = None
        for token in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
            docstring = token.type == tokenize.STRING and previous in (
                None, tokenize.INDENT, tokenize.DEDENT, tokenize.NEWLINE)
            if token.type in (tokenize.COMMENT, tokenize.STRING) and not docstring:
                others = set(rule_id.findall(token.string)) - {own}
                assert not others, f"{path.name}:{token.start[0]} names {others}"
            if token.type not in (tokenize.NL, tokenize.COMMENT):
                previous = token.type


def owners() -> dict:
    from nginx_mtls_lint.flow import Cause
    from nginx_mtls_lint.rules import builtin_rules

    found: dict = {cause: [r.id for r in builtin_rules() if cause in r.causes]
                   for cause in Cause}
    assert all(len(rules) == 1 for rules in found.values()), found
    return found


def unowned_open_paths(case: Path, flow_certs) -> list[str]:
    """Every open path of the case (the clients its verify modes let past the handshake,
    and those its error pages may answer) whose cause is not exactly one rule's."""
    flags, kw = _case_flags(*flow_certs)
    result = lint_in_process([case / "nginx.conf"], **kw)
    owned = owners()
    wrong = []
    for flow in result.analysis.flows():
        server = flow.server
        kinds = tuple(dict.fromkeys((*server.verification.verify_mode.followed_kinds,
                                     "failed", "malformed", "tls-port-plain")))
        for path in flow.open_paths(kinds):
            cause = path.cause(server)
            if len(owned.get(cause, [])) != 1:
                wrong.append(f"{case.name} {server.label} {path.client.label} {path.uri}: "
                             f"{cause} owned by {owned.get(cause)}")
    return wrong


@pytest.mark.parametrize("case", CASES[::15], ids=lambda p: p.name)
def test_open_paths_of_a_sample_of_the_labelled_cases_have_one_owner(case, flow_certs):
    assert unowned_open_paths(case, flow_certs) == []


@pytest.mark.slow
def test_every_open_path_of_every_labelled_case_has_one_owner(flow_certs):
    wrong = [w for case in CASES for w in unowned_open_paths(case, flow_certs)]
    assert wrong == [], "\n".join(wrong[:20])
