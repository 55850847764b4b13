"""gunicorn with gunicorn.conf.py: SIGTERM lets an in-flight request finish (202, event in the stream), exit 0."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import redis

from tests.helpers.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[2]
EV = {
    "eventType": "asset_viewed",
    "source": "web",
    "actorId": "usr_001",
    "entityId": "ast_001",
    "entityType": "asset",
}


def _post(base: str, event: dict) -> tuple[int, dict]:
    req = urllib.request.Request(
        f"{base}/v1/track", data=json.dumps(event).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@contextlib.contextmanager
def _gunicorn(settings, worker_class: str, args: tuple[str, ...] = (), env: dict[str, str] | None = None):
    """gunicorn (gunicorn.conf.py, one worker of `worker_class`, `args`) on a private Redis, `env` added to the
    environment; yields (base url, probe, proc)."""
    server = RedisServer().start()
    port = free_port()
    full_env = {
        **os.environ,
        "REDIS_URL": server.url,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
        "GUNICORN_WORKER_CLASS": worker_class,
        "GUNICORN_THREADS": "4",
        "GUNICORN_GRACEFUL_TIMEOUT": "10",
        "ANALYTICS_REDIS_TIMEOUT_SECONDS": "5",
        **(env or {}),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), *args, "ingest_api.wsgi:app"],
        cwd=ROOT,
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    probe = redis.Redis.from_url(server.url)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{base}/readyz", timeout=1)
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read().decode()[-2000:]
                time.sleep(0.2)
        assert _post(base, {**EV, "sessionId": "warm"})[0] == 202
        yield base, probe, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        probe.close()
        server.cleanup()


@pytest.mark.parametrize("worker_class", ["gevent", "gthread"])
def test_sigterm_finishes_in_flight_requests(settings, worker_class):
    with _gunicorn(settings, worker_class) as (base, probe, proc):
        # Hold Redis for 2 s so the next request is in flight when SIGTERM arrives.
        sleeper = threading.Thread(target=lambda: probe.execute_command("DEBUG", "SLEEP", "2"))
        sleeper.start()
        time.sleep(0.2)
        answer: list[tuple[int, dict]] = []
        inflight = threading.Thread(target=lambda: answer.append(_post(base, {**EV, "sessionId": "in-flight"})))
        inflight.start()
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        inflight.join(timeout=15)
        sleeper.join(timeout=15)
        assert proc.wait(timeout=20) == 0
        ((status, body),) = answer
        assert status == 202
        ids = [f[b"id"].decode() for _, f in probe.xrange(settings.stream_key)]
        assert body["id"] in ids


def test_gevent_worker_groups_concurrent_requests_into_one_redis_call(settings):
    """Requests that arrive while the worker's Redis call is in flight share the next call; each still gets 202 with
    its own id, and every id is in the stream."""
    with _gunicorn(settings, "gevent") as (base, probe, _):
        calls_before = probe.info("commandstats")["cmdstat_evalsha"]["calls"]
        sleeper = threading.Thread(target=lambda: probe.execute_command("DEBUG", "SLEEP", "1"))
        sleeper.start()
        time.sleep(0.2)
        answers: list[tuple[int, dict]] = []
        posts = [
            threading.Thread(target=lambda n=n: answers.append(_post(base, {**EV, "sessionId": f"grouped-{n}"})))
            for n in range(12)
        ]
        for t in posts:
            t.start()
            time.sleep(0.02)
        for t in posts:
            t.join(timeout=15)
        sleeper.join(timeout=15)

        assert sorted(status for status, _ in answers) == [202] * 12
        ids = {body["id"] for _, body in answers}
        assert len(ids) == 12
        assert ids <= {f[b"id"].decode() for _, f in probe.xrange(settings.stream_key)}
        calls = probe.info("commandstats")["cmdstat_evalsha"]["calls"] - calls_before
        assert calls <= 3, calls  # the first in flight, then the rest together (12 calls without grouping)


def _arbiter(path: Path) -> int:
    """The pid of the arbiter answering on the control socket at `path`."""
    from gunicorn.ctl.client import ControlClient

    deadline = time.monotonic() + 10  # the arbiter opens the socket once its workers are up
    while not path.is_socket():
        assert time.monotonic() < deadline, f"no control socket at {path}"
        time.sleep(0.1)
    with ControlClient(str(path), timeout=5) as ctl:
        return ctl.send_command("show all")["arbiter"]["pid"]


def test_two_collectors_keep_their_own_control_sockets(settings, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "XDG_RUNTIME_DIR": ""}  # where gunicorn's default socket would go
    run_a, run_b = tmp_path / "a", tmp_path / "b"
    run_a.mkdir(), run_b.mkdir()
    with _gunicorn(settings, "gthread", ("--pid", str(run_a / "collector.pid")), env) as (_, _, proc_a):
        with _gunicorn(settings, "gthread", ("--pid", str(run_b / "collector.pid")), env) as (_, _, proc_b):
            assert _arbiter(run_a / "collector.ctl") == proc_a.pid
            assert _arbiter(run_b / "collector.ctl") == proc_b.pid
            proc_b.send_signal(signal.SIGTERM)
            assert proc_b.wait(timeout=20) == 0
        assert not (run_b / "collector.ctl").exists()
        assert _arbiter(run_a / "collector.ctl") == proc_a.pid
    with _gunicorn(settings, "gthread", env=env):  # no pid file, no run folder: no control socket at all
        pass
    assert not (home / ".gunicorn").exists()
