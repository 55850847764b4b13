"""A throwaway redis-server on a free port, for tests that stop, restart, hold or pause Redis."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def wait_until(condition: Callable[[], object], what: str, timeout: float = 20.0) -> None:
    """Poll until `condition()` holds: tests wait for an order of events, not for a number of seconds (the timeout
    only stops a broken test from hanging)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what}")
        time.sleep(0.01)


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

    def hold(self, seconds: float) -> threading.Thread:
        """Make this Redis unresponsive for `seconds` (DEBUG SLEEP, from a thread the caller joins). Returns once the
        sleep has begun, i.e. once a PING goes unanswered."""
        sleeper = redis.Redis(port=self.port)
        sent = threading.Event()

        def sleep() -> None:
            sent.set()
            sleeper.execute_command("DEBUG", "SLEEP", str(seconds))
            sleeper.close()

        thread = threading.Thread(target=sleep)
        thread.start()
        sent.wait(10)
        probe = redis.Redis(port=self.port, socket_timeout=0.05, retry=Retry(NoBackoff(), 0))  # one try per PING

        def asleep() -> bool:
            try:
                probe.ping()
            except redis.TimeoutError:
                return True
            return False

        wait_until(asleep, "redis to start its DEBUG SLEEP")
        probe.close()
        return thread

    @contextmanager
    def writes_paused(self) -> Iterator[None]:
        """Hold every write and script call sent to this Redis until the block exits (CLIENT PAUSE WRITE, then
        UNPAUSE): a call made inside is provably in flight, for as long as the test needs."""
        control = redis.Redis(port=self.port)
        control.execute_command("CLIENT", "PAUSE", "60000", "WRITE")
        try:
            yield
        finally:
            control.execute_command("CLIENT", "UNPAUSE")
            control.close()

    def held(self, command: str = "evalsha") -> int:
        """How many clients wait in `command` (held by writes_paused, or blocked)."""
        with redis.Redis(port=self.port) as probe:
            return sum(c["cmd"] == command and "b" in c["flags"] for c in probe.client_list())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: no shutdown save, the next start() replays the AOF as a crash would leave it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
