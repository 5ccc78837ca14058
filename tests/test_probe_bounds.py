"""`probe` against servers that are not an origin it can judge (issue 20, item 6; the
reproducers of ../shared/reliability/16-probe made small): whatever the other end does, the run
ends within its deadline, nothing is called "rejected" that was not an HTTP refusal or a TLS
alert, and an origin never reached is exit 2."""

from __future__ import annotations

import json
import time

import pytest

from conftest import run_cli
from nginx_mtls_lint import probe
from probe_servers import Server

NAME = "shop.example.com"


def outcomes_against(mode: str, **kw) -> tuple[list[probe.Outcome], float]:
    with Server(mode) as server:
        target = probe.Target("127.0.0.1", server.port, NAME, plain_port=server.port,
                              timeout=kw.pop("timeout", 0.2), **kw)
        start = time.monotonic()
        outcomes = probe.probe(target)
        return outcomes, time.monotonic() - start


@pytest.mark.parametrize("mode", ["blackhole", "garbage", "reset", "ssh", "trickle"])
def test_nothing_reached_is_never_a_rejection_and_exits_2(mode):
    outcomes, took = outcomes_against(mode)
    assert [o.verdict for o in outcomes] == ["unreachable"] * len(outcomes), outcomes
    assert probe.exit_code(outcomes) == 2
    # six cases, each at most twice the 0.2 s timeout
    assert took < 6 * 2 * 0.2 + 3


def test_a_trickling_server_ends_within_the_run_deadline():
    outcomes, took = outcomes_against("trickle", timeout=3, deadline=2)
    assert took < 4
    assert all(o.verdict == "unreachable" for o in outcomes)
    assert any("deadline" in o.detail for o in outcomes), outcomes


def test_a_closed_port_exits_2_from_the_command():
    with Server("reset") as server:
        port = server.port  # free once the server is gone
    result = run_cli("probe", f"127.0.0.1:{port}", "--name", NAME, "--timeout", "1",
                     "--format", "json", timeout=60)
    assert result.returncode == 2, result.stderr
    document = json.loads(result.stdout)
    assert {r["verdict"] for r in document["results"]} == {"unreachable"}
    assert b"no case reached the origin" in result.stderr


def test_an_ssh_banner_on_the_plain_case_is_not_an_http_refusal():
    with Server("ssh") as server:
        result = run_cli("probe", f"127.0.0.1:{server.port}", "--name", NAME, "--timeout",
                         "1", "--deadline", "20", "--format", "json", timeout=60)
    assert result.returncode == 2, result.stderr
    plain = next(r for r in json.loads(result.stdout)["results"] if r["case"] == "plain HTTP")
    assert plain["verdict"] == "unreachable" and "not an HTTP response" in plain["detail"]


@pytest.mark.parametrize("name,says", [
    ("a" * 64 + ".example.com", "has 64 characters (a DNS label has at most 63)"),
    ("a." * 127 + "example", "a DNS name has at most 253"),
    ("shop..example.com", "empty label"),
    ("*.example.com", "not a DNS label"),
])
def test_a_name_that_cannot_be_sni_is_a_usage_error(name, says):
    result = run_cli("probe", "127.0.0.1:9", "--name", name, timeout=60)
    assert result.returncode == 2
    assert says in result.stderr.decode() and b"Traceback" not in result.stderr


@pytest.mark.parametrize("option,value", [("--timeout", "-1"), ("--timeout", "nan"),
                                          ("--timeout", "inf"), ("--deadline", "0"),
                                          ("--path", "/a b"), ("--plain-port", "70000")])
def test_bad_bounds_are_usage_errors(option, value):
    result = run_cli("probe", "127.0.0.1:9", "--name", NAME, option, value, timeout=60)
    assert result.returncode == 2 and b"Traceback" not in result.stderr
    assert option in result.stderr.decode()


def test_a_63_character_label_and_an_international_name_are_sent():
    assert probe.name_problem("a" * 63 + ".example.com") is None
    assert probe.ascii_name("bücher.example") == "xn--bcher-kva.example"
