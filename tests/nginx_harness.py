"""Start an nginx binary (Debian's, or an upstream build of tests/nginx_builds.py) in its own
prefix on loopback high ports, and stop it."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import nginx_builds
from conftest import skip_or_fail

CONTENT = "PROTECTED-CONTENT"
STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3})")


def http1_answer(data: bytes) -> dict[str, object]:
    """What an HTTP/1.x response says, as the labelling and the differential harness record
    it: its status (None: no status line), whether the body holds the site's CONTENT, and its
    first line ("closed" when nothing came)."""
    match = STATUS_LINE.match(data)
    body = data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""
    return {"status": int(match[1]) if match else None, "content": CONTENT.encode() in body,
            "detail": data.split(b"\r\n", 1)[0].decode(errors="replace") or "closed"}


def nginx_binary() -> str:
    for candidate in ("/usr/sbin/nginx", shutil.which("nginx")):
        if candidate and Path(candidate).exists():
            return candidate
    skip_or_fail("no nginx binary (apt-get install nginx)")


def built_binary(version: str) -> str:
    """An upstream nginx `version` built from ../shared/data/nginx-src (cached per machine)."""
    try:
        return str(nginx_builds.binary(version))
    except nginx_builds.BuildUnavailable as error:
        skip_or_fail(str(error))


def free_ports(count: int) -> list[int]:
    sockets, ports = [], []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
        ports.append(s.getsockname()[1])
    for s in sockets:
        s.close()
    return ports


def nginx_version(binary: str | None = None) -> str:
    result = subprocess.run([binary or nginx_binary(), "-v"], capture_output=True, text=True,
                            timeout=10)
    return result.stderr.strip().split("/")[-1]


def http_defaults(prefix: Path) -> str:
    """Directives for http {} that keep logs and temporary files inside `prefix`."""
    return ("    access_log off;\n    default_type text/html;\n"
            + "".join(f"    {kind}_temp_path {prefix}/{kind}_temp;\n"
                      for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")))


def stream_module(binary: str | None = None) -> str:
    """The `load_module` line stream {} needs (Debian builds it as a dynamic module, from
    libnginx-mod-stream), or "" when the binary has it built in."""
    result = subprocess.run([binary or nginx_binary(), "-V"], capture_output=True, text=True, timeout=10)
    if "--with-stream=dynamic" not in result.stderr:
        if "--with-stream" not in result.stderr:
            skip_or_fail("this nginx has no stream module")
        return ""
    module = Path("/usr/lib/nginx/modules/ngx_stream_module.so")
    if not module.exists():
        skip_or_fail(f"{module} is absent (apt-get install libnginx-mod-stream)")
    return f"load_module {module};\n"


class Nginx:
    """One nginx master in `prefix`, with `http_body` inside http {} (or `conf_text`, a
    complete nginx.conf holding events {} and http {}), and `stream_body` inside stream {}
    when given; `binary` defaults to Debian's nginx (built_binary(version) gives an upstream
    one)."""

    def __init__(self, prefix: Path, http_body: str = "", conf_text: str | None = None,
                 stream_body: str | None = None, binary: str | None = None):
        self.binary = binary or nginx_binary()
        self.prefix = prefix
        self.prefix.mkdir(parents=True, exist_ok=True)
        (prefix / "logs").mkdir(exist_ok=True)
        www = prefix / "www"
        (www / "app").mkdir(parents=True, exist_ok=True)
        for page in ("index.html", "app/index.html"):
            (www / page).write_text(f"<p>{CONTENT}</p>\n")
        user = "user root;\n" if os.geteuid() == 0 else ""  # workers read the test's files
        self.conf = prefix / "nginx.conf"
        modules = stream_module(self.binary) if stream_body is not None else ""
        stream = f"stream {{\n{stream_body}\n}}\n" if stream_body is not None else ""
        head = (f"{modules}{user}worker_processes 1;\npid {prefix}/nginx.pid;\n"
                f"error_log {prefix}/logs/error.log info;\n")
        self.conf.write_text(head + conf_text if conf_text is not None else
            head + "events { worker_connections 64; }\n"
            "http {\n" + http_defaults(prefix) + http_body + "\n}\n" + stream)
        self.process: subprocess.Popen | None = None

    def check(self) -> subprocess.CompletedProcess:
        return subprocess.run([self.binary, "-t", "-p", str(self.prefix), "-c",
                               str(self.conf), "-e", str(self.prefix / "logs/error.log")],
                              capture_output=True, text=True, timeout=30)

    def start(self, ports: list[int]) -> "Nginx":
        self.process = subprocess.Popen(
            [self.binary, "-p", str(self.prefix), "-c", str(self.conf), "-e",
             str(self.prefix / "logs/error.log"), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        pending = list(ports)
        while pending and time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("nginx exited: " + self.process.stderr.read().decode())
            try:
                socket.create_connection(("127.0.0.1", pending[0]), timeout=0.5).close()
                pending.pop(0)
            except OSError:
                time.sleep(0.05)
        if pending:
            self.stop()
            raise RuntimeError(f"nginx did not listen on {pending} within 10 s")
        return self

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGQUIT)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def __enter__(self) -> "Nginx":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
