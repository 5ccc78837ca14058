"""Verdicts of issue 19 that depend on the nginx judged for (the labelled cases prove them on
a real nginx, tests/test_flow_labels.py; the linter is judged here for each version)."""

from __future__ import annotations

import pytest

from conftest import FIXTURES, lint_in_process
from nginx_mtls_lint import versions

GUARD = FIXTURES / "flow" / "sni_guard_session_resumed_without_sni" / "nginx.conf"


@pytest.mark.parametrize("version,reported", [("1.22.1-9+deb12u12", True), ("1.26.2", True),
                                              ("1.28.0", True), ("1.30.4", False)])
def test_sni_guard_against_a_session_resumed_without_sni(version, reported):
    """Up to 1.29.1 a TLS 1.3 session made without SNI is resumed with a name, past an
    `if ($ssl_server_name != ...)` guard (facts §6); from 1.29.2 it is not resumed."""
    result = lint_in_process([GUARD], target=versions.parse_target(version, "test"))
    found = [f for f in result.findings if f.rule == "MTLS102"]
    assert bool(found) == reported, [f.message for f in result.findings]
    if found:
        assert "resumed with SNI app.example.com" in found[0].message
