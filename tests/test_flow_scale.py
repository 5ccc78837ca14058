"""The request simulator's work grows linearly with the servers of a configuration: counted in
operations (requests simulated, steps taken along their paths), never timed, so a fast machine
cannot hide a quadratic term. `benchmarks/bench.py` measures the time."""

from __future__ import annotations

from pathlib import Path

from nginx_mtls_lint import flow
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


def simulator_work(tmp_path: Path, servers: int, monkeypatch) -> tuple[int, int]:
    """(requests simulated, steps recorded) for a full lint of `servers` servers."""
    tree = tmp_path / f"n{servers}"
    tree.mkdir()
    body = "".join(SERVER.format(i=i) for i in range(servers))
    (tree / "nginx.conf").write_text("events {}\nhttp {\n" + HTTP + body + "}\n")
    counts = {"requests": 0, "steps": 0}
    request, step = flow.Simulator.request, flow.State.step

    def counted_request(self, *args, **kwargs):
        counts["requests"] += 1
        return request(self, *args, **kwargs)

    def counted_step(self, *args, **kwargs):
        counts["steps"] += 1
        return step(self, *args, **kwargs)

    monkeypatch.setattr(flow.Simulator, "request", counted_request)
    monkeypatch.setattr(flow.State, "step", counted_step)
    findings = lint([str(tree / "nginx.conf")], LintOptions()).findings
    monkeypatch.undo()
    # the open location of every server is found (the work is not "linear" by skipping)
    assert sum(f.rule == "MTLS002" and any("`location /open/`" in r.label for r in f.related)
               for f in findings) == servers, findings
    return counts["requests"], counts["steps"]


def test_simulator_work_grows_linearly_with_servers(tmp_path, monkeypatch):
    small = simulator_work(tmp_path, 10, monkeypatch)
    large = simulator_work(tmp_path, 20, monkeypatch)
    assert small[0] > 0 and small[1] > 0
    # twice the servers, twice the work (a scan over the servers per server would be 4x)
    for few, many in zip(small, large):
        assert many <= 2.1 * few, (small, large)
