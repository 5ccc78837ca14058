"""`compare OLD NEW`: a migration that drops enforcement for one host fails, one that keeps it
passes; every changed cell is listed with both traces."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import FIXTURES, run_cli

K8S = FIXTURES / "kubernetes"


def compare(tmp_path: Path, old: Path, new: Path, *extra: str):
    for side, source in (("old", old), ("new", new)):
        (tmp_path / side).mkdir()
        shutil.copy(source, tmp_path / side / source.name)
    return run_cli("compare", *extra, "old", "new", cwd=tmp_path)


def test_migration_keeping_enforcement_passes(tmp_path: Path):
    """ingress-nginx with auth-tls `on` -> a Gateway with AllowValidOnly for the same host."""
    result = compare(tmp_path, K8S / "ingress_nginx" / "on_fp.yaml",
                     K8S / "gateway_api" / "allow_valid_only_fp.yaml")
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert b"0 weaker" in result.stdout


def test_migration_dropping_enforcement_fails_and_shows_both_traces(tmp_path: Path):
    """... -> a Gateway with AllowInsecureFallback: a client without a certificate gets in."""
    result = compare(tmp_path, K8S / "ingress_nginx" / "on_fp.yaml",
                     K8S / "gateway_api" / "insecure_fallback.yaml", "--format", "json")
    assert result.returncode == 1, result.stderr.decode()
    report = json.loads(result.stdout)
    weaker = [c for c in report["changes"] if c["weakens"]]
    assert {(c["host"], c["port"], c["client"]) for c in weaker} >= {
        ("shop.example.com", "443", "none")}
    for change in weaker:
        assert change["old"]["verdict"] == "refused" and change["new"]["verdict"] == "open"
        assert change["old"]["trace"] and change["new"]["trace"]


def test_plain_port_opened_is_a_weakening(tmp_path: Path):
    result = compare(tmp_path, K8S / "gateway_api" / "route_https_only_fp.yaml",
                     K8S / "gateway_api" / "route_on_http_listener.yaml")
    assert result.returncode == 1
    assert b"WEAKER: shop.example.com:80 / (plain HTTP): refused -> open" in result.stdout


def test_compare_needs_two_inputs(tmp_path: Path):
    result = run_cli("compare", "only-one", cwd=tmp_path)
    assert result.returncode == 2 and b"compare" in result.stderr
