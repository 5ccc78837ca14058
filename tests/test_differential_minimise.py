"""The differential harness's minimiser (tests/differential/minimise.py) on its own: delta
debugging over a generated configuration's statements and blocks, with a predicate that needs
no nginx."""

from __future__ import annotations

import re

from differential.configs import generate
from differential.minimise import minimise, units, without


def test_units_are_statements_and_whole_blocks_in_document_order():
    text = "events {}\nhttp {\n    server {\n        listen 443 ssl;\n    }\n}\n"
    assert units(text) == [(0, 1), (1, 6), (2, 5), (3, 4)]
    assert without(text, (2, 5)) == "events {}\nhttp {\n}\n"


def test_minimise_keeps_what_the_disagreement_needs_and_drops_the_rest():
    gen = next(g for g in map(generate, range(1, 50))
               if "ssl_verify_client" in g.text and "location /api/" in g.text)
    judged = []

    def still(candidate):
        judged.append(candidate)
        return "ssl_verify_client" in candidate.text and "location /api/" in candidate.text

    small = minimise(gen, still)
    statements = [line for line in small.text.splitlines() if line.strip().endswith(";")]
    assert re.search(r"ssl_verify_client \w+;", small.text)
    assert "location /api/" in small.text
    assert len(statements) <= 2, small.text  # the verify line and what /api/ holds
    assert len(small.text) < len(gen.text) / 3
    assert all(c.text != gen.text for c in judged)


def test_minimise_drops_the_ports_no_longer_listened_on():
    gen = next(g for g in map(generate, range(1, 200)) if 80 in g.plain_ports)
    small = minimise(gen, lambda c: "listen 443" in c.text)
    assert small.plain_ports == [] and small.tls_ports == [443]
