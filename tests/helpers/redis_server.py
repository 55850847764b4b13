"""A throwaway redis-server on a free port, for tests that stop and restart Redis."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time

import redis

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """start() / stop() a private redis-server on one port that stays the same across restarts.

    AOF with fsync always, as in production, so a restart shows exactly what was acknowledged."""

    def __init__(self, port: int | None = None, *, aof: bool = True, extra: tuple[str, ...] = ()):
        self.port = port or free_port()
        self.aof, self.extra = aof, extra
        self.dir = tempfile.mkdtemp(prefix="redis-test-")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--dir", self.dir]
            + (["--appendonly", "yes", "--appendfsync", "always"] if self.aof else ["--appendonly", "no"])
            + ["--enable-debug-command", "local", *self.extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.05)
        client.close()
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
