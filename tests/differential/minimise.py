"""Delta debugging of one disagreement: the smallest configuration on which nginx and the
linter still disagree in the same way.

The generated text has one statement per line and one block per `head {` ... `}`; a unit is a
statement or a whole block. In document order (a block before what it holds), each unit is
removed in turn and the removal kept when the disagreement stays (same class, judged again by
nginx and by the linter on the same requests, those to ports still listened on); passes repeat
until none removes anything. A removal nginx -t refuses is a different class, so it is never
kept.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Callable

from .configs import Generated

LISTEN_PORT = re.compile(r"^\s*listen\s+(?:\S*:)?(\d+)\b", re.M)


def units(text: str) -> list[tuple[int, int]]:
    """(first line, line after the last) of every statement and block, in document order."""
    lines = text.split("\n")
    found, opened = [], []
    for number, line in enumerate(lines):
        stripped = line.strip()
        if stripped.endswith("{"):
            opened.append(len(found))
            found.append([number, None])
        elif stripped == "}":
            found[opened.pop()][1] = number + 1
        elif stripped:
            found.append([number, number + 1])
    return [(start, end) for start, end in found if end is not None]


def without(text: str, unit: tuple[int, int]) -> str:
    lines = text.split("\n")
    return "\n".join(lines[:unit[0]] + lines[unit[1]:])


def reduced(gen: Generated, text: str) -> Generated:
    """`gen` with another text: the ports it no longer listens on dropped."""
    ports = {int(p) for p in LISTEN_PORT.findall(text)}
    keep = lambda found: [p for p in found if p in ports]  # noqa: E731
    return replace(gen, text=text, tls_ports=keep(gen.tls_ports),
                   plain_ports=keep(gen.plain_ports),
                   proxy_protocol_ports=keep(gen.proxy_protocol_ports),
                   h2_ports=keep(gen.h2_ports), loopback_ports=keep(gen.loopback_ports),
                   stream_ports=keep(gen.stream_ports),
                   tunnel=gen.tunnel and 8081 in ports)


def minimise(gen: Generated, still: Callable[[Generated], bool], tries: int = 400,
             log: Callable[[str], None] = lambda _: None) -> Generated:
    """The smallest reduction of `gen` for which `still` (the same disagreement) holds; at
    most `tries` judgements."""
    current, spent = gen, 0
    changed = True
    while changed and spent < tries:
        changed, index = False, 0
        while spent < tries:
            found = units(current.text)
            if index >= len(found):
                break
            candidate = reduced(current, without(current.text, found[index]))
            spent += 1
            if candidate.tls_ports + candidate.plain_ports and still(candidate):
                current, changed = candidate, True
                log(f"{len(current.text.splitlines())} lines")
            else:
                index += 1
    return current
