"""The variable and directive catalogue is generated from nginx's sources and complete: every
entry is either modelled by the simulator or marked unknown, and what is marked modelled is
what the simulator really computes."""

from __future__ import annotations

import re

import pytest

from conftest import ROOT, SHARED, skip_or_fail
from nginx_mtls_lint import catalogue

SOURCES = SHARED / "data" / "nginx-src"
PACKAGE = ROOT / "nginx_mtls_lint"


def test_every_variable_is_classified_and_modelled_or_unknown():
    data = catalogue.load()
    assert set(data["versions"]) >= {"1.26.2", "1.28.0", "1.30.4"}
    classes = {"client-raw", "client-normalised", "connection", "tls", "certificate",
               "configuration", "unknown"}
    wrong = {key: entry for key, entry in data["variables"].items()
             if entry["class"] not in classes or entry["model"] not in ("modelled", "unknown")
             or (entry["model"] == "modelled") != catalogue.variable_modelled(
                 key.split(":", 1)[1])}
    assert not wrong, wrong
    # the variables every mTLS check reads are there, with their classes
    assert data["variables"]["http:ssl_client_verify"]["class"] == "certificate"
    assert data["variables"]["http:request_uri"]["class"] == "client-raw"
    assert data["variables"]["http:uri"]["class"] == "client-normalised"
    assert data["variables"]["http:http_"]["prefix"]
    assert not data["variables"]["http:request_id"]["cached"] is None


def test_every_deciding_directive_is_modelled_or_unknown():
    data = catalogue.load()["directives"]
    undecided = [name for name, entry in data.items()
                 if entry["decides"] and entry["model"] not in ("modelled", "unknown")]
    assert not undecided
    assert catalogue.MODELLED_DIRECTIVES <= catalogue.DECIDING
    assert {"if", "try_files", "auth_request", "ssl_verify_client"} <= set(data)


def test_what_is_marked_modelled_is_read_by_the_analysis():
    """A modelled directive or variable is named in the simulator or the model."""
    text = "".join(p.read_text() for p in PACKAGE.rglob("*.py")
                   if p.name not in ("catalogue.py",) and "rules" not in p.parts)
    missing = [name for name in sorted(catalogue.MODELLED_DIRECTIVES)
               if not re.search(rf"[\"'(]{re.escape(name)}[\"',)]", text)]
    missing += [name for name in sorted(catalogue.MODELLED_VARIABLES)
                if not re.search(rf"[\"'$]{re.escape(name)}[\"']", text)]
    assert not missing, missing


@pytest.mark.parametrize("version", ["1.26.2", "1.28.0", "1.30.4"])
def test_the_catalogue_is_what_the_sources_say(version):
    tarball = SOURCES / f"nginx-{version}.tar.gz"
    if not tarball.exists():
        skip_or_fail(f"{tarball} is absent")
    found_version, found = catalogue.read_source(tarball)
    assert found_version == version
    data = catalogue.load()
    stored = {k for k, e in data["variables"].items() if version in e["versions"]}
    assert stored == set(found["variables"]), "run python -m nginx_mtls_lint.catalogue"
    stored = {k for k, e in data["directives"].items() if version in e["versions"]}
    assert stored == set(found["directives"])
