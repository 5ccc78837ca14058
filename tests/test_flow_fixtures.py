"""The linter agrees with what a real nginx did: every case under fixtures/flow/ (labelled by
tests/test_flow_labels.py on a real nginx) gives exactly its `# expect:` (file, line, rule)
set, and its label decides whether an error of the bypass or broken-origin rules is there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import nginx_builds
from conftest import (FIXTURES, expectations, finding_set, lint_in_process, not_as_data,
                      make_cert, pem)
from nginx_mtls_lint import versions
from test_flow_labels import load_case

CASES = sorted(p for p in (FIXTURES / "flow").iterdir() if (p / "nginx.conf").is_file())
LABEL = re.compile(r"^# label:\s*(\w+)", re.MULTILINE)
# An error from one of these says "a client without a valid certificate gets in".
BYPASS_RULES = {"MTLS001", "MTLS002", "MTLS006", "MTLS101", "MTLS102", "MTLS104", "MTLS106",
                "MTLS107", "MTLS108"}


@pytest.fixture(scope="module")
def flow_certs(tmp_path_factory) -> tuple[Path, str]:
    """client-ca.pem (the expected CA), other-ca.pem, server.pem/key."""
    from cryptography.hazmat.primitives import hashes

    from test_flow_labels import CA_NAME  # the names the labelling run gave its CAs

    folder = tmp_path_factory.mktemp("flow-certs")
    ca, ca_key = make_cert(CA_NAME)
    other, _ = make_cert("Other Client CA")
    server, server_key = make_cert("server.example.com", issuer=(ca, ca_key), ca=False)
    for name, data in {"client-ca.pem": pem(ca), "other-ca.pem": pem(other),
                       "server.pem": pem(server), "server.key": b""}.items():
        (folder / name).write_bytes(data)
    return folder, ca.fingerprint(hashes.SHA256()).hex().upper()


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_flow_case_gives_exactly_its_expectations(case: Path, flow_certs):
    folder, fingerprint = flow_certs
    result = lint_in_process([case / "nginx.conf"],
                             path_map=[("/etc/nginx/certs", str(folder))],
                             expected_cas=[("*", frozenset({fingerprint}))])
    judged = BYPASS_RULES | {"MTLS007"}  # what these cases are about (not MTLS103's note)
    found = {f for f in finding_set(result.findings) if f[2] in judged}
    assert found == {e for e in expectations(case) if e[2] in judged}, "\n".join(
        f"{f.file}:{f.line} {f.rule} {f.severity}: {f.message}" for f in result.findings)
    assert not not_as_data(result.findings)
    label = LABEL.search((case / "nginx.conf").read_text()).group(1)
    errors = {f.rule for f in result.findings if f.severity == "error"}
    if label == "bypass":  # (MTLS005: anyone holding another trusted CA's certificate)
        assert errors & (BYPASS_RULES | {"MTLS005"}), \
            "a bypass a real nginx showed, and no error says so"
    elif label == "broken":
        assert "MTLS007" in errors
    else:
        assert not errors & (BYPASS_RULES | {"MTLS007"}), "an error on a case nginx held"


@pytest.mark.parametrize("case", [c for c in CASES if load_case(c).versions],
                         ids=lambda p: p.name)
def test_a_case_outside_its_versions_is_refused_by_the_linter(case: Path):
    """A case whose `# versions:` leaves out a version nginx was built in (its `nginx -t`
    refuses the configuration there, tests/test_flow_labels.py): judged for that version, the
    linter says nginx refuses it (MTLS009), naming the version."""
    outside = [v for v in nginx_builds.VERSIONS if not load_case(case).holds_for(v)]
    assert outside, f"{case.name}: every upstream build is inside its versions"
    for version in outside:
        result = lint_in_process([case / "nginx.conf"],
                                 target=versions.parse_target(version, "test"))
        refused = [f for f in result.findings if f.rule == "MTLS009"]
        assert refused and all(version in f.message for f in refused), (version, [
            f"{f.file}:{f.line} {f.rule}: {f.message}" for f in result.findings])
