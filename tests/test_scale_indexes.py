"""Per-server questions answered from indexes built once per run: growth is counted in
operations (entries of a socket walked), never timed."""

from __future__ import annotations

from pathlib import Path

from nginx_mtls_lint import model
from nginx_mtls_lint.lint import LintOptions, lint


class CountingList(list):
    """A socket's entry list that counts the entries handed out by iteration."""

    visited = 0

    def __iter__(self):
        for item in super().__iter__():
            CountingList.visited += 1
            yield item


def _socket_walks(tmp_path: Path, servers: int, monkeypatch) -> int:
    tree = tmp_path / f"n{servers}"
    tree.mkdir()
    # every server verifies clients and has a handler: every server is simulated
    body = "".join(f"  server {{ listen 443 ssl; server_name s{i}.test; "
                   "ssl_verify_client optional; ssl_client_certificate ca.pem; "
                   "location / { proxy_pass http://127.0.0.1:8080; } }\n"
                   for i in range(servers))
    (tree / "nginx.conf").write_text("events {}\nhttp {\n" + body +
                                     "  server { listen 443 ssl default_server; }\n}\n")
    original = model.Socket.add

    def add(socket, server, listen):
        if not isinstance(socket.entries, CountingList):
            socket.entries = CountingList(socket.entries)
        original(socket, server, listen)

    monkeypatch.setattr(model.Socket, "add", add)
    CountingList.visited = 0
    lint([str(tree / "nginx.conf")], LintOptions())
    return CountingList.visited


def test_default_server_of_a_socket_is_indexed_not_rescanned(tmp_path, monkeypatch):
    small = _socket_walks(tmp_path, 40, monkeypatch)
    large = _socket_walks(tmp_path, 80, monkeypatch)
    # linear: twice the servers on one socket, about twice the entries walked (a scan of
    # the socket per server would make it four times)
    assert large <= 2.5 * small + 10


def test_default_server_is_the_first_marked_whatever_comes_later(tmp_path):
    from nginx_mtls_lint.inputs import load_inputs
    from nginx_mtls_lint.loader import LoadOptions
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\nhttp {\n  server { listen 443 ssl; server_name a.test; }\n"
                    "  server { listen 443 ssl default_server; server_name b.test; }\n"
                    "  server { listen 443 ssl; server_name c.test; }\n}\n")
    config = model.build_model(load_inputs([str(conf)], LoadOptions())).configs[0]
    socket = config.sockets["0.0.0.0:443"]
    assert socket.default.names == ["b.test"] and socket.default_is_explicit
    assert [s.names[0] for s in socket.servers] == ["a.test", "b.test", "c.test"]
