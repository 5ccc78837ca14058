"""The model answers what nginx applies: sockets, defaults, TLS, inheritance, handlers."""

from __future__ import annotations

from pathlib import Path

import pytest

from nginx_mtls_lint.inputs import load_inputs
from nginx_mtls_lint.loader import LoadOptions
from nginx_mtls_lint.model import build_model, name_keys, parse_listen
from nginx_mtls_lint.parser import Stmt


@pytest.mark.parametrize("args,socket,flags", [
    (["443"], "0.0.0.0:443", set()),
    (["*:443", "ssl"], "0.0.0.0:443", {"ssl"}),
    (["0.0.0.0:443", "ssl", "default_server"], "0.0.0.0:443", {"ssl", "default_server"}),
    (["[::]:443", "ssl", "http2"], "[::]:443", {"ssl", "http2"}),
    (["[0:0::1]:8443", "ssl"], "[::1]:8443", {"ssl"}),
    (["127.0.0.1"], "127.0.0.1:80", set()),
    (["Example.COM:8080", "default"], "example.com:8080", {"default_server"}),
    (["unix:/run/nginx.sock", "proxy_protocol"], "unix:/run/nginx.sock", {"proxy_protocol"}),
    (["443", "quic", "reuseport"], "0.0.0.0:443/quic", {"quic"}),
])
def test_listen_normalisation(args, socket, flags):
    listen = parse_listen(Stmt("listen", args, "f.conf", 1))
    assert listen.socket == socket
    names = ("ssl", "default_server", "http2", "quic", "proxy_protocol")
    assert {n for n in names if getattr(listen, n)} == flags


def model_of(tmp_path: Path, text: str):
    conf = tmp_path / "nginx.conf"
    conf.write_text(text)
    workspace = load_inputs([str(conf)], LoadOptions())
    return build_model(workspace)


def test_inheritance_and_error_pages(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = model_of(tmp_path, "events {}\nhttp {\n  ssl_verify_client on;\n"
                     "  error_page 495 496 /denied;\n"
                     "  server { listen 443 ssl; server_name a.test; }\n"
                     "  server { listen 443 ssl; server_name b.test; ssl_verify_client off;\n"
                     "           error_page 404 /nf; }\n}\n")
    a, b = model.servers
    verify = a.setting("ssl_verify_client")
    assert (verify.value, verify.stmt.line, verify.inherited) == ("on", 3, True)
    assert b.setting("ssl_verify_client").inherited is False
    assert [s.stmt.args for s in a.settings("error_page")] == [["495", "496", "/denied"]]
    # a server that sets any error_page replaces the whole http-level group
    assert [s.stmt.args for s in b.settings("error_page")] == [["404", "/nf"]]


def test_ssl_flag_belongs_to_the_address_port(tmp_path):
    model = model_of(tmp_path, "events {}\nhttp {\n"
                     "  server { listen 127.0.0.1:18443 ssl; server_name a.test; }\n"
                     "  server { listen 127.0.0.1:18443; server_name b.test; }\n"
                     "  server { listen [::1]:18443; server_name c.test; }\n}\n")
    a, b, c = model.servers
    assert a.tls_on == b.tls_on == ["127.0.0.1:18443"] and c.tls_on == []
    assert a.default_on == ["127.0.0.1:18443"] and b.default_on == []
    assert c.default_on == ["[::1]:18443"]


def test_server_names_answer_as_nginx_hashes_them(tmp_path):
    """ngx_hash_add_key: `.x` takes the exact x and the wildcard *.x (the same wildcard as
    `*.x`); the first server to take an entry answers it; `.x` whose x is taken is ignored."""
    model = model_of(tmp_path, "events {}\nhttp {\n"
                     "  server { listen 443 ssl; server_name .a.test B.test; }\n"
                     "  server { listen 443 ssl; server_name *.a.test a.test b.test; }\n"
                     "  server { listen 443 ssl; server_name .b.test ~^c; }\n"
                     "  server { listen 443 ssl; server_name ~^c; }\n}\n")
    first, second, third, _ = model.servers
    socket = model.configs[0].sockets["0.0.0.0:443"]
    assert name_keys(".a.test") == ("a.test", "*.a.test") and name_keys("~^C") == ("~^C",)
    assert socket.answering("a.test") is socket.answering("*.a.test") is first
    assert socket.answering("b.test") is first  # `.b.test` is ignored as a whole
    assert socket.answering("*.b.test") is None
    assert socket.answering("~^c") is third and second is not None
    # regexes come after the hashes: the longest wildcard over the regex's domain answers it
    assert socket.wildcard_over(r"~^(?<t>[a-z]+)\.x\.A\.test$") == "*.a.test"
    assert socket.wildcard_over(r"~^(www\.)?b\.test$") is None  # nobody has *.test
    assert socket.wildcard_over(r"~^a$|\.a\.test$") is None  # `^a$` ends elsewhere
    assert socket.wildcard_over("~^c") is None


def test_a_server_refusing_handshakes_is_reached_through_another_servers(tmp_path):
    """ssl_reject_handshake on refuses handshakes that choose this server; a handshake with
    any other server of the socket carries `Host:` to it (ngx_http_set_virtual_server)."""
    model = model_of(tmp_path, "events {}\nhttp {\n"
                     "  server { listen 443 ssl; listen 8443 ssl; server_name a.test;\n"
                     "           ssl_reject_handshake on; }\n"
                     "  server { listen 443 ssl; server_name b.test; }\n"
                     "  server { listen 443 ssl default_server; ssl_reject_handshake on; }\n"
                     "}\n")
    refusing, other, nameless = model.servers
    assert refusing.reachable_tls == ["0.0.0.0:443"]  # not 8443: nobody there handshakes
    assert other.reachable_tls == ["0.0.0.0:443"] and nameless.reachable_tls == []


def test_server_without_listen_is_on_port_80(tmp_path):
    (server,) = model_of(tmp_path, "events {}\nhttp { server { server_name x.test; } }\n").servers
    assert [listen.socket for listen in server.listens] == ["0.0.0.0:80"] and not server.serves_tls


def test_handlers_through_includes_maps_and_locations(tmp_path):
    (tmp_path / "guard.conf").write_text("if ($ssl_client_verify != SUCCESS) { return 444; }\n")
    model = model_of(tmp_path, "events {}\nhttp {\n"
                     "  map $ssl_client_verify $deny { default 1; SUCCESS 0; }\n"
                     "  server {\n    include guard.conf;\n"
                     "    location / { if ($deny) { return 403; } }\n"
                     "    location = /x { return 200; }\n  }\n}\n")
    (server,) = model.servers
    (handler,) = server.handlers
    assert handler.code == "444" and handler.if_stmt.file.endswith("guard.conf")
    root, exact = server.locations
    assert [h.condition for h in root.handlers] == [["$deny"]] and not exact.handlers


def test_legacy_ssl_on_counts_in_the_default_server_only(tmp_path):
    """nginx 1.22 ngx_http_init_connection: `sscf->enable || addr_conf->ssl`, with the
    configuration of the port's default server."""
    model = model_of(tmp_path, "events {}\nhttp {\n"
                     "  server { listen 443 default_server; server_name _; return 444; }\n"
                     "  server { listen 443; server_name a.test; ssl on; }\n"
                     "  server { listen 8443 default_server; server_name _; ssl on; }\n"
                     "  server { listen 8443; server_name b.test; }\n}\n")
    catch_all, a, default, b = model.servers
    assert catch_all.tls_on == a.tls_on == []
    assert default.tls_on == b.tls_on == ["0.0.0.0:8443"]


def test_protected_twin_is_another_server_whatever_the_order(tmp_path):
    """A server that verifies is never its own twin: the `on` copy loaded after an
    `optional` one is the twin of the `optional` one."""
    tls = ("listen {port} ssl; server_name admin.example.com; ssl_certificate s.pem; "
           "ssl_certificate_key s.key; ssl_client_certificate ca.pem; ")
    model = model_of(tmp_path, "http {\n"
                     f"server {{ {tls.format(port=8443)} ssl_verify_client optional; }}\n"
                     f"server {{ {tls.format(port=443)} ssl_verify_client on; }}\n}}\n")
    first, second = model.configs[0].servers
    config = model.configs[0]
    assert config.protected_twin(first) == ("admin.example.com", second)
    assert config.protected_twin(second) == ("admin.example.com", first)
