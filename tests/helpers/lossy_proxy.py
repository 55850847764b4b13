"""A TCP proxy in front of a real Redis that can lose one reply: the command reaches Redis and runs, its answer
never reaches the client, whose connection is closed instead (a dropped connection, a failover mid-call)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class LossyProxy:
    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.armed: bytes | None = None  # lose the reply to the next request containing these bytes
        self.lost = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def lose_reply_to(self, marker: bytes) -> None:
        with self.lock:
            self.armed = marker

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            drop = threading.Event()  # the next reply on this pair is to be lost
            threading.Thread(target=self._requests, args=(client, upstream, drop), daemon=True).start()
            threading.Thread(target=self._replies, args=(upstream, client, drop), daemon=True).start()

    def _requests(self, client: socket.socket, upstream: socket.socket, drop: threading.Event) -> None:
        try:
            while data := client.recv(65536):
                with self.lock:
                    if self.armed is not None and self.armed in data:
                        self.armed = None
                        drop.set()  # before Redis can answer
                upstream.sendall(data)
        except OSError:
            pass
        _close(client, upstream)

    def _replies(self, upstream: socket.socket, client: socket.socket, drop: threading.Event) -> None:
        try:
            while data := upstream.recv(65536):
                if drop.is_set():
                    self.lost += 1
                    break  # the command ran; its answer goes nowhere
                client.sendall(data)
        except OSError:
            pass
        _close(client, upstream)

    def close(self) -> None:
        self.listener.close()


def _close(*socks: socket.socket) -> None:
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()


@contextmanager
def lossy_proxy(upstream_port: int) -> Iterator[LossyProxy]:
    proxy = LossyProxy(upstream_port)
    try:
        yield proxy
    finally:
        proxy.close()
