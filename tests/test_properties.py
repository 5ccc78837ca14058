"""Property-based: whatever the input, no traceback, valid JSON, exit code 0, 1 or 2.

A longer run: `python benchmarks/fuzz.py --examples 20000`.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from nginx_mtls_lint.cli import main

NAMES = ["server", "listen", "server_name", "location", "if", "return", "include", "http",
         "ssl_verify_client", "ssl_client_certificate", "ssl_trusted_certificate", "map",
         "real_ip_header", "set_real_ip_from", "error_page", "ssl_reject_handshake", "events",
         "proxy_pass", "root", "ssl", "default", "# nginx-mtls-lint: disable=MTLS001 -- x",
         "content_by_lua_block", "set_by_lua_block"]
ARGS = ["443", "80", "[::]:443", "127.0.0.1:8443", "ssl", "default_server", "on", "off",
        "optional", "optional_no_ca", "CF-Connecting-IP", "173.245.48.0/20", "/", "=", "~",
        "($ssl_client_verify", "!=", "SUCCESS)", "403", "*.conf", "nginx.conf", "$http_cf_ray",
        "\"quoted ; { }\"", "'single'", "unix:/x", "@named", "例え.jp", "\\", "#", "${x}"]
TOKENS = st.one_of(st.sampled_from(NAMES), st.sampled_from(ARGS),
                   st.sampled_from(["{", "}", ";", "\n", " ", "\r\n", "\t", "\"", "'"]),
                   st.text(max_size=6))
CONFIGS = st.lists(TOKENS, max_size=120).map(" ".join)


def run(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    os.environ["NGINX_MTLS_LINT_DEBUG"] = "1"  # a bug must surface as an exception here
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(args)
    finally:
        del os.environ["NGINX_MTLS_LINT_DEBUG"]
    return code, out.getvalue(), err.getvalue()


def check(path: Path) -> None:
    code, out, _ = run(["--format", "json", str(path)])
    assert code in (0, 1, 2)
    if code != 2:
        document = json.loads(out)
        assert document["version"] == 1
        assert all(f["rule"].startswith("MTLS") for f in document["findings"])


# benchmarks/fuzz.py raises this for a long run.
EXAMPLES = int(os.environ.get("NGINX_MTLS_LINT_FUZZ_EXAMPLES", "150"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(text=CONFIGS)
def test_generated_nginx_like_configs(tmp_path_factory, text: str):
    folder = tmp_path_factory.mktemp("gen")
    (folder / "snippet.conf").write_text("server { listen 443 ssl; }\n")
    (folder / "nginx.conf").write_text(text)
    check(folder / "nginx.conf")
    (folder / "frag.conf").write_text(text)
    check(folder / "frag.conf")


@SETTINGS
@given(data=st.binary(max_size=400))
def test_random_bytes(tmp_path_factory, data: bytes):
    folder = tmp_path_factory.mktemp("bytes")
    (folder / "nginx.conf").write_bytes(data)
    check(folder / "nginx.conf")


@SETTINGS
@given(text=CONFIGS)
def test_generated_dumps_on_stdin(text: str):
    import sys

    dump = f"# configuration file /etc/nginx/nginx.conf:\n{text}\n"
    stdin = io.TextIOWrapper(io.BytesIO(dump.encode("utf-8", "replace")))
    saved = sys.stdin
    sys.stdin = stdin
    try:
        code, out, _ = run(["--format", "json", "-"])
    finally:
        sys.stdin = saved
    assert code in (0, 1, 2)
    if code != 2:
        json.loads(out)
