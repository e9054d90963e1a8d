"""A TCP relay to the test server that loses a reply the server has sent: the server did the
work, the client only sees its connection lost (for the PostgreSQL tests of outcomes unknown)."""

from __future__ import annotations

import socket
import threading
from contextlib import suppress
from urllib.parse import urlparse

__all__ = ["LosingRelay"]


class LosingRelay:
    """A TCP relay to the test server that, once armed, drops both sides as soon as the
    server has answered (up to its ReadyForQuery) the first request holding ``marker``,
    passing none of that answer on: the server did the work, the client lost its connection."""

    def __init__(self, dsn: str, marker: bytes) -> None:
        self.target = urlparse(dsn)
        self.marker = marker
        self.armed = False
        self.fired = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        t, port = self.target, self.listener.getsockname()[1]
        self.dsn = (
            f"postgresql://{t.username}:{t.password}@127.0.0.1:{port}{t.path}"
            "?sslmode=disable&gssencmode=disable"
        )
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with suppress(OSError):
            while True:
                client, _ = self.listener.accept()
                threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        server = socket.create_connection((self.target.hostname, self.target.port))
        watching = threading.Event()

        def upstream() -> None:
            with suppress(OSError):
                while data := client.recv(65536):
                    if self.armed and not self.fired.is_set() and self.marker in data:
                        watching.set()
                    server.sendall(data)

        threading.Thread(target=upstream, daemon=True).start()
        answer = b""
        with suppress(OSError):
            while data := server.recv(65536):
                if not watching.is_set():
                    client.sendall(data)
                    continue
                answer += data
                if b"Z\x00\x00\x00\x05" in answer:  # ReadyForQuery: the request has ended
                    self.fired.set()
                    break
        for end in (client, server):
            with suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def close(self) -> None:
        self.listener.close()
