"""The request simulator's work grows linearly with the servers of a configuration: counted in
operations (requests simulated, steps taken along their paths), never timed, so a fast machine
cannot hide a quadratic term. `benchmarks/bench.py` measures the time."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from nginx_mtls_lint import flow
from nginx_mtls_lint.flow import questions
from nginx_mtls_lint.records import VariableMap
from nginx_mtls_lint.lint import LintOptions, lint

# Every server verifies clients and has handlers (so each is simulated), reads maps and a geo
# of the http {} level, and has regex locations: the shapes whose per-server cost once scanned
# the whole configuration.
HTTP = """map $ssl_client_verify $cert_ok { default 0; SUCCESS 1; }
map $cert_ok $verified { default $cert_ok; }
map $request_uri $moved { default ""; ~^/old-a/ /a/; ~^/old-b/(?<rest>.*)$ /b/$rest; }
geo $office { default 0; 192.0.2.0/24 1; }
"""
SERVER = """server {{
    listen 443 ssl;
    server_name s{i}.test;
    ssl_certificate server.pem;
    ssl_certificate_key server.key;
    ssl_client_certificate ca.pem;
    ssl_verify_client optional;
    if ($moved) {{ return 301 $moved; }}
    location / {{
        if ($verified != 1) {{ return 403; }}
        proxy_pass http://127.0.0.1:8080;
    }}
    location ~ ^/api/(?:v[0-9]+)/(?<what>[[:alpha:]]+) {{
        if ($office = 0) {{ return 403; }}
        proxy_pass http://127.0.0.1:8080;
    }}
    location /open/ {{ proxy_pass http://127.0.0.1:8080; }}
}}
"""


def simulator_work(tmp_path: Path, servers: int, monkeypatch) -> tuple[int, ...]:
    """(requests simulated, steps recorded, rewrite-module statements run, strings looked up
    in maps, URIs sampled) for a full lint of `servers` servers."""
    tree = tmp_path / f"n{servers}"
    tree.mkdir()
    body = "".join(SERVER.format(i=i) for i in range(servers))
    (tree / "nginx.conf").write_text("events {}\nhttp {\n" + HTTP + body + "}\n")
    counts = dict.fromkeys(("requests", "steps", "lookups", "uris"), 0)
    simulators: list[flow.Simulator] = []
    request, step = flow.Simulator.request, flow.State.step
    init, lookup = flow.Simulator.__init__, VariableMap.lookup_match
    samples = questions.location_samples

    def counted_init(self, *args, **kwargs):
        simulators.append(self)
        init(self, *args, **kwargs)

    def counted_request(self, *args, **kwargs):
        counts["requests"] += 1
        return request(self, *args, **kwargs)

    def counted_step(self, *args, **kwargs):
        counts["steps"] += 1
        return step(self, *args, **kwargs)

    def counted_lookup(self, *args, **kwargs):
        counts["lookups"] += 1
        return lookup(self, *args, **kwargs)

    def counted_samples(server):
        found = samples(server)
        counts["uris"] += len(found.uris)
        return found

    monkeypatch.setattr(flow.Simulator, "__init__", counted_init)
    monkeypatch.setattr(flow.Simulator, "request", counted_request)
    monkeypatch.setattr(flow.State, "step", counted_step)
    monkeypatch.setattr(VariableMap, "lookup_match", counted_lookup)
    monkeypatch.setattr(questions, "location_samples", counted_samples)
    findings = lint([str(tree / "nginx.conf")], LintOptions()).findings
    monkeypatch.undo()
    # the open location of every server is found (the work is not "linear" by skipping)
    assert sum(f.rule == "MTLS002" and any("`location /open/`" in r.label for r in f.related)
               for f in findings) == servers, findings
    statements = sum(simulator.work for simulator in simulators)
    return (counts["requests"], counts["steps"], statements, counts["lookups"],
            counts["uris"])


def test_simulator_work_grows_linearly_with_servers(tmp_path, monkeypatch):
    small = simulator_work(tmp_path, 10, monkeypatch)
    large = simulator_work(tmp_path, 20, monkeypatch)
    assert all(count > 0 for count in small), small
    # twice the servers, twice the work (a scan over the servers per server would be 4x)
    for few, many in zip(small, large):
        assert many <= 2.1 * few, (small, large)


def test_state_copy_keeps_every_field():
    """State.copy is dataclasses.replace written out for speed: it must carry every field."""
    state = flow.State(uri="/a", method="POST")
    for number, item in enumerate(fields(flow.State)):
        if item.name not in ("uri", "method", "variables", "steps"):
            setattr(state, item.name, getattr(state, item.name) or f"v{number}")
    copied = state.copy({"x": "1"}, None)
    for item in fields(flow.State):
        if item.name not in ("variables", "steps"):
            assert getattr(copied, item.name) == getattr(state, item.name), item.name
    assert copied.variables == {"x": "1"} and copied.steps is None
