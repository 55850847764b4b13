"""Client library and Segment endpoint throughput, against raw batch posts measured in the same run.

Runs the collector under gunicorn on a free port (fresh database, own Redis prefix), then sends N events
four ways (interleaved, 3 rounds) and prints the median events/s and the ratio to the baseline:
  baseline   pre-serialised `POST /v1/track/batch` bodies of 50 events over one keep-alive session
  client     analytics_pipeline_client.Client (background thread, validation per event, 50 per request)
  segment    segment-analytics-python → /segment/v1/batch (100 per request)
  rudder     rudder-sdk-python → /segment/v1/batch (gzip, 100 per request)
Also the caller-side cost of Client.track() per event. Usage: .venv/bin/python bench/bench_client_segment.py [N]
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import redis
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "include"), str(ROOT / "clients/python/src")]

from analytics.config import Settings  # noqa: E402
from analytics.db import drop_database, ensure_database  # noqa: E402
from analytics.migrate import migrate  # noqa: E402
from analytics.seed import seed  # noqa: E402
from analytics_pipeline_client import Client  # noqa: E402
from tests.helpers.gunicorn_collector import gunicorn_collector  # noqa: E402
from tests.helpers.rudder_sdk import rudder_client_class  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
REPEATS = 3


def _event(run: str, i: int) -> dict:
    return {
        "eventType": "asset_viewed",
        "source": "server",  # a registered source
        "actorId": f"usr_{i % 50 + 1:03d}",
        "entityId": f"ast_{i % 100 + 1:03d}",
        "entityType": "asset",
        "sessionId": f"{run}-{i}",
        "props": {"viewDurationMs": i % 5000},
    }


def baseline(url: str, run: str) -> float:
    bodies = [
        json.dumps({"events": [_event(run, i) for i in range(s, min(s + 50, N))]}).encode() for s in range(0, N, 50)
    ]
    session = requests.Session()
    t0 = time.perf_counter()
    for body in bodies:
        r = session.post(url + "/v1/track/batch", data=body, headers={"Content-Type": "application/json"}, timeout=30)
        assert r.status_code == 200 and all(x["status"] == "accepted" for x in r.json()["results"]), r.text[:300]
    return time.perf_counter() - t0


def client(url: str, run: str) -> tuple[float, float]:
    events = [_event(run, i) for i in range(N)]
    c = Client(url, flush_at=100, flush_interval=1.0, max_queue_size=N, handle_sigterm=False)
    t0 = time.perf_counter()
    for e in events:
        c.track(e)
    t_enqueue = time.perf_counter() - t0
    assert c.flush(timeout=300)
    elapsed = time.perf_counter() - t0
    c.shutdown()
    assert (c.stats.accepted, c.stats.dropped, c.stats.failed) == (N, 0, 0), c.stats
    return elapsed, t_enqueue


def sdk(url: str, run: str, module: str) -> float:
    if module == "segment":
        from segment.analytics.client import Client as SdkClient
    else:
        SdkClient = rudder_client_class()
    errors: list = []
    c = SdkClient(
        write_key="bench",
        host=url + "/segment",
        upload_size=100,
        upload_interval=0.2,
        max_queue_size=N + 1,
        on_error=lambda e, b: errors.append(e),
    )
    t0 = time.perf_counter()
    for i in range(N):
        c.track(
            f"usr_{i % 50 + 1:03d}",
            "Asset Viewed",
            {"assetId": f"ast_{i % 100 + 1:03d}", "sessionId": f"{run}-{i}", "viewDurationMs": i % 5000},
        )
    c.flush()
    elapsed = time.perf_counter() - t0
    assert not errors, errors[:3]
    return elapsed


def main() -> None:
    prefix = f"bench:{uuid.uuid4().hex[:8]}"
    db_url = f"postgresql://postgres@127.0.0.1:5432/analytics_bench_{uuid.uuid4().hex[:6]}"
    base = Settings.from_env()
    ensure_database(db_url)
    migrate(db_url)
    seed(db_url)
    env = {
        "DATABASE_URL": db_url,
        "ANALYTICS_KEY_PREFIX": prefix,
        "ANALYTICS_STREAM_KEY": f"{prefix}:events",
        "ANALYTICS_WRITE_KEYS": "",
    }
    r = redis.Redis.from_url(base.redis_url)
    try:
        # gunicorn's defaults, not the production gunicorn.conf.py, as when these figures were first taken.
        with gunicorn_collector(env, with_conf=False, args=("-w", "2")) as (url, _):
            measure(url, r, prefix)
    finally:
        keys = list(r.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            r.delete(*keys)
        drop_database(db_url)


def measure(url: str, r: redis.Redis, prefix: str) -> None:
    baseline(url, "warm")  # fills the reference cache and warms both workers
    runs: dict[str, list[float]] = {name: [] for name in ("baseline", "client", "segment", "rudder")}
    enqueue: list[float] = []
    for rep in range(REPEATS):  # interleaved, so a noisy neighbour hits every method alike
        runs["baseline"].append(baseline(url, f"b{rep}"))
        elapsed, t_enqueue = client(url, f"c{rep}")
        runs["client"].append(elapsed)
        enqueue.append(t_enqueue)
        runs["segment"].append(sdk(url, f"s{rep}", "segment"))
        runs["rudder"].append(sdk(url, f"r{rep}", "rudder"))
    stored = r.xlen(f"{prefix}:events")
    assert stored == (1 + 4 * REPEATS) * N, f"stream holds {stored}, expected {(1 + 4 * REPEATS) * N}"
    base = statistics.median(runs["baseline"])
    print(f"N={N} events per method, median of {REPEATS}; collector: gunicorn -w 2; {os.cpu_count()} CPUs")
    print(f"{'method':<10} {'seconds':>8} {'events/s':>9} {'vs baseline':>12}  {'range events/s':>16}")
    for name, times in runs.items():
        secs = statistics.median(times)
        spread = f"{N / max(times):.0f}-{N / min(times):.0f}"
        print(f"{name:<10} {secs:>8.2f} {N / secs:>9.0f} {base / secs:>11.2f}x  {spread:>16}")
    print(
        f"Client.track() caller-side cost: {statistics.median(enqueue) / N * 1e6:.0f} µs/event (validation + enqueue)"
    )


if __name__ == "__main__":
    main()
