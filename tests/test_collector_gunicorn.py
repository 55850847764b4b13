"""gunicorn with gunicorn.conf.py: SIGTERM lets an in-flight request finish (202, event in the stream), exit 0."""

from __future__ import annotations

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

import redis

from tests.helpers.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[1]
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


def test_sigterm_finishes_in_flight_requests(settings):
    server = RedisServer().start()
    port = free_port()
    env = {
        **os.environ,
        "REDIS_URL": server.url,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
        "GUNICORN_THREADS": "4",
        "GUNICORN_GRACEFUL_TIMEOUT": "10",
        "ANALYTICS_REDIS_TIMEOUT_SECONDS": "5",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "ingest_api.wsgi:app"],
        cwd=ROOT,
        env=env,
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
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        probe.close()
        server.cleanup()
