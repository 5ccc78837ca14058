"""Small hostile (or counting) TCP servers on loopback for the probe's tests.

Each listens on 127.0.0.1 on a free high port chosen by the kernel, answers every connection
in a thread as its mode says, counts connections and requests, and stops (closing every
connection it holds) when its `with` block ends.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

MODES = ("blackhole", "garbage", "reset", "ssh", "trickle", "http")


class Server:
    def __init__(self, mode: str, life: float = 60.0):
        assert mode in MODES
        self.mode, self.life = mode, life
        self.connections = 0
        self.requests: list[tuple[float, bytes]] = []  # (time, first line) of each request
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._held: list[socket.socket] = []
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> "Server":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        for conn in self._held:
            try:
                conn.close()
            except OSError:
                pass
        self._listener.close()

    def _serve(self) -> None:
        end = time.monotonic() + self.life
        while not self._stop.is_set() and time.monotonic() < end:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                continue
            with self._lock:
                self.connections += 1
                self._held.append(conn)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            getattr(self, "_" + self.mode)(conn)
        except OSError:
            pass

    def _blackhole(self, conn: socket.socket) -> None:
        self._stop.wait(self.life)  # never answer, never close

    def _garbage(self, conn: socket.socket) -> None:
        conn.sendall(bytes(range(7, 256)) * 2)
        conn.close()

    def _reset(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()

    def _ssh(self, conn: socket.socket) -> None:
        conn.settimeout(2)
        conn.recv(4096)
        conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
        conn.close()

    def _trickle(self, conn: socket.socket) -> None:
        while not self._stop.wait(0.5):
            conn.sendall(b"x")

    def _http(self, conn: socket.socket) -> None:
        """Plain HTTP/1.1 that records each request line and answers 200 with a small body."""
        conn.settimeout(5)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        with self._lock:
            self.requests.append((time.monotonic(), data.split(b"\r\n", 1)[0]))
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
        conn.close()
