"""gunicorn with gunicorn.conf.py: SIGTERM lets an in-flight request finish (202, event in the stream), exit 0."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import psutil
import pytest
import redis

from tests.collect.test_collector import ev
from tests.helpers.gunicorn_collector import gunicorn_collector
from tests.helpers.redis_server import RedisServer, wait_until


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
def _gunicorn(server: RedisServer, worker_class: str, args: tuple[str, ...] = (), env: dict[str, str] | None = None):
    """gunicorn (gunicorn.conf.py, one worker of `worker_class`, `args`) on a private Redis, `env` added, warmed up;
    yields (base url, probe, process)."""
    env = {
        "REDIS_URL": server.url,
        "GUNICORN_WORKERS": "1",
        "GUNICORN_WORKER_CLASS": worker_class,
        "GUNICORN_THREADS": "4",
        "GUNICORN_GRACEFUL_TIMEOUT": "10",
        "ANALYTICS_REDIS_TIMEOUT_SECONDS": "5",
        **(env or {}),
    }
    with gunicorn_collector(env, args=args) as (base, proc), redis.Redis.from_url(server.url) as probe:
        # A session of its own: two collectors warmed up within one second would otherwise send a duplicate.
        assert _post(base, ev(sessionId=f"warm-{uuid.uuid4().hex}"))[0] == 202
        yield base, probe, proc


def _worker_waits_with(master: subprocess.Popen, base: str, requests: int) -> bool:
    """The one worker has accepted `requests` connections on `base` and used no CPU over 50 ms: each request it
    took has reached the point where it waits."""
    (worker,) = psutil.Process(master.pid).children()
    port = int(base.rsplit(":", 1)[1])
    accepted = [c for c in worker.net_connections(kind="tcp") if c.status == psutil.CONN_ESTABLISHED]
    if sum(c.laddr.port == port for c in accepted) < requests:
        return False
    before = worker.cpu_times()
    time.sleep(0.05)
    return worker.cpu_times()[:2] == before[:2]


def _listening(worker: psutil.Process) -> bool:
    """The worker still holds its listening socket (it closes it once it has taken SIGTERM)."""
    try:
        return any(c.status == psutil.CONN_LISTEN for c in worker.net_connections(kind="tcp"))
    except psutil.NoSuchProcess:
        return False


def _sigterm_delivered(master: psutil.Process, worker: psutil.Process) -> bool:
    """The master has closed its listener (its graceful stop signals the worker right after) and no SIGTERM is
    pending in the worker any more: the worker's handler has it."""
    if _listening(master):
        return False
    status = (Path("/proc") / str(worker.pid) / "status").read_text().splitlines()
    pending = [int(line.split()[1], 16) for line in status if line.startswith(("SigPnd:", "ShdPnd:"))]
    return not any(mask & (1 << (signal.SIGTERM - 1)) for mask in pending)


def _in_thread(fn) -> tuple[threading.Thread, list]:
    out: list = []
    thread = threading.Thread(target=lambda: out.append(fn()))
    thread.start()
    return thread, out


@pytest.mark.parametrize("worker_class", ["gevent", "gthread"])
def test_sigterm_finishes_in_flight_requests(settings, private_redis, worker_class):
    with _gunicorn(private_redis, worker_class) as (base, probe, proc):
        # The request's write is held in Redis while SIGTERM reaches the worker, and released only after.
        with private_redis.writes_paused():
            inflight, answer = _in_thread(lambda: _post(base, ev(sessionId="in-flight")))
            wait_until(lambda: private_redis.held() == 1, "the request's write to reach Redis")
            master = psutil.Process(proc.pid)
            (worker,) = master.children()
            proc.send_signal(signal.SIGTERM)
            wait_until(lambda: _sigterm_delivered(master, worker), "gunicorn to pass SIGTERM to the worker")
        inflight.join(timeout=15)
        assert proc.wait(timeout=20) == 0
        ((status, body),) = answer
        assert status == 202
        ids = [f[b"id"].decode() for _, f in probe.xrange(settings.stream_key)]
        assert body["id"] in ids


def test_gevent_worker_groups_concurrent_requests_into_one_redis_call(settings, private_redis):
    """Requests that arrive while the worker's Redis call is in flight share the next call; each still gets 202 with
    its own id, and every id is in the stream."""
    with _gunicorn(private_redis, "gevent") as (base, probe, proc):
        calls_before = probe.info("commandstats")["cmdstat_evalsha"]["calls"]
        answers: list[tuple[int, dict]] = []
        with private_redis.writes_paused():
            first, _ = _in_thread(lambda: answers.append(_post(base, ev(sessionId="grouped-0"))))
            wait_until(lambda: private_redis.held() == 1, "the first request's call to reach Redis")
            posts = [
                _in_thread(lambda n=n: answers.append(_post(base, ev(sessionId=f"grouped-{n}"))))[0]
                for n in range(1, 12)
            ]
            wait_until(lambda: _worker_waits_with(proc, base, 12), "the other requests to wait behind the first")
        for t in [first, *posts]:
            t.join(timeout=15)

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


def test_two_collectors_keep_their_own_control_sockets(settings, private_redis, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "XDG_RUNTIME_DIR": ""}  # where gunicorn's default socket would go
    run_a, run_b = tmp_path / "a", tmp_path / "b"
    run_a.mkdir(), run_b.mkdir()
    with _gunicorn(private_redis, "gthread", ("--pid", str(run_a / "collector.pid")), env) as (_, _, proc_a):
        with _gunicorn(private_redis, "gthread", ("--pid", str(run_b / "collector.pid")), env) as (_, _, proc_b):
            assert _arbiter(run_a / "collector.ctl") == proc_a.pid
            assert _arbiter(run_b / "collector.ctl") == proc_b.pid
            proc_b.send_signal(signal.SIGTERM)
            assert proc_b.wait(timeout=20) == 0
        assert not (run_b / "collector.ctl").exists()
        assert _arbiter(run_a / "collector.ctl") == proc_a.pid
    with _gunicorn(private_redis, "gthread", env=env):  # no pid file, no run folder: no control socket at all
        pass
    assert not (home / ".gunicorn").exists()
