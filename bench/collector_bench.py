"""Collector throughput and latency over loopback, against a bare Flask 204 endpoint under the same gunicorn.

    .venv/bin/python bench/collector_bench.py [--seconds 10] [--connections 32] [--decompose] [--replica]
        [--only NAME] [--write BENCHMARKS.md]

Needs `wrk` (Debian: `apt-get install -y wrk`), the Postgres on DATABASE_URL's server (a scratch database
is created, migrated, seeded and dropped) and the Redis on REDIS_URL (scratch keys, deleted after).
Both apps run under gunicorn with gunicorn.conf.py and the same GUNICORN_WORKER_CLASS / GUNICORN_WORKERS /
GUNICORN_THREADS.
Measured side by side in one run:
  1. single events, saturated: requests/s of the collector ÷ requests/s of the baseline (target ≥ 0.7);
  2. single events at ~1,000 requests/s offered (connections with a think time): p50/p99 latency (target p99 ≤ 25 ms);
  3. batches of 50, saturated: accepted events/s (target ≥ 30,000), checked against the stream length;
  4. beside it, the same batches as browsers send them: analytics.js's Segment batch (`/segment/v1/b`, text/plain,
     writeKey inside), paired with the same events as a server client sends them to `/v1/track/batch` (what the
     Segment ones map to: anonymous actor, idempotency key, user agent, referrer), and our tracker's cross-origin
     batch (Origin header, text/plain, ANALYTICS_CORS_ORIGINS set), paired with run 3.
  5. with --replica: the private redis-server gets a replica, and runs 1-3 each run again right after themselves with
     ANALYTICS_REDIS_WAIT_REPLICAS=1 (bench/wait_cost.py): requests/s, events/s, p99 and the ratio with ÷ without.
Between runs the stream and the dedup keys are deleted and Redis' AOF rewritten, so no run pays for the ones before
(a stream of a million entries, and its AOF rewrite forking a 1 GB Redis, landed on whichever run came late).
Every request carries a distinct session id (Segment: anonymous id), so events are accepted, not deduplicated.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import redis
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from analytics.config import Settings
from analytics.db import drop_database, ensure_database
from analytics.migrate import migrate
from analytics.seed import seed
from bench import wait_cost

ROOT = Path(__file__).resolve().parents[1]
PY = Path(sys.executable)

WRK_SCRIPT = r"""
local counter = 0
local tid = 0
local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  tid = tonumber(wrk.thread:get("tid")) or 0
  batch = tonumber(args[1]) or 0
  think = tonumber(args[2]) or 0
  run = args[3] or "r"
  -- native | segment (analytics.js batch) | server (the segment run's events, mapped, in our contract, as the
  -- Python client sends them: idempotency key, user agent, attribution) | cors (a browser's cross-origin batch)
  mode = args[4] or "native"
end
local function event(n)
  return string.format(
    '{"eventType":"asset_viewed","source":"web","actorId":"usr_%03d","entityId":"ast_%03d","entityType":"asset",' ..
    '"sessionId":"%s-%d-%d","props":{"viewDurationMs":%d},"attribution":{"utmSource":"newsletter",' ..
    '"utmMedium":"email","landingPage":"https://example.com/a"}}',
    n % 50 + 1, n % 100 + 1, run, tid, n, n % 5000)
end
local function segment_call(n)
  return string.format(
    '{"type":"track","event":"Asset Viewed","anonymousId":"anon-%s-%d-%d","messageId":"m-%s-%d-%d",' ..
    '"timestamp":"' .. now_iso .. '",' ..
    '"properties":{"assetId":"ast_%03d","viewDurationMs":%d},"context":{"page":{"path":"/a","url":' ..
    '"https://example.com/a","referrer":"https://news.example/"},"campaign":{"source":"newsletter",' ..
    '"medium":"email"},"userAgent":"Mozilla/5.0 (X11; Linux x86_64) bench"},"integrations":{}}',
    run, tid, n, run, tid, n, n % 100 + 1, n % 5000)
end
local function server_event(n)
  return string.format(
    '{"eventType":"asset_viewed","source":"server","actorId":"anon-%s-%d-%d","actorType":"anonymous",' ..
    '"entityId":"ast_%03d","entityType":"asset","props":{"assetId":"ast_%03d","viewDurationMs":%d},' ..
    '"idempotencyKey":"m-%s-%d-%d","occurredAt":"' .. now_iso .. '","sentAt":"' .. now_iso .. '",' ..
    '"userAgent":"Mozilla/5.0 (X11; Linux x86_64) bench","attribution":' ..
    '{"utmSource":"newsletter","utmMedium":"email","referrer":"https://news.example/","landingPage":' ..
    '"https://example.com/a"}}',
    run, tid, n, n % 100 + 1, n % 100 + 1, n % 5000, run, tid, n)
end
now_iso = ""
function request()
  counter = counter + 1
  -- Browsers and the server clients stamp each event (analytics.js: timestamp and sentAt; ours: occurredAt, sentAt).
  now_iso = os.date("!%Y-%m-%dT%H:%M:%SZ")
  local headers = {["Content-Type"] = "application/json", ["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) bench"}
  if mode == "segment" then
    headers["Content-Type"] = "text/plain"
    local items = {}
    for i = 1, batch do items[i] = segment_call(counter * batch + i) end
    return wrk.format("POST", "/segment/v1/b", headers,
      '{"writeKey":"wk_bench","batch":[' .. table.concat(items, ",") .. '],"sentAt":"' .. now_iso .. '"}')
  end
  if mode == "cors" then
    headers["Content-Type"] = "text/plain;charset=UTF-8"
    headers["Origin"] = "https://shop.example"
  end
  if batch > 0 then
    local items = {}
    local make = mode == "server" and server_event or event
    for i = 1, batch do items[i] = make(counter * batch + i) end
    return wrk.format("POST", "/v1/track/batch", headers, '{"events":[' .. table.concat(items, ",") .. ']}')
  end
  return wrk.format("POST", "/v1/track", headers, event(counter))
end
function delay()
  return think
end
"""


def reset_redis(client: redis.Redis, prefix: str) -> None:
    """Delete what a run appended (the stream, dedup keys, counters, kept rejections) and rewrite the AOF, so the next
    run starts from the same Redis; the known-id sets stay."""
    for pattern in ("events", "fp:*", "idem:*", "stats:*", "rejected"):
        batch = []
        for key in client.scan_iter(match=f"{prefix}:{pattern}", count=5000):
            batch.append(key)
            if len(batch) >= 5000:
                client.unlink(*batch)
                batch = []
        if batch:
            client.unlink(*batch)
    try:
        client.bgrewriteaof()
    except redis.ResponseError:  # the shared Redis without AOF, or a rewrite already running
        return
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and client.info("persistence").get("aof_rewrite_in_progress"):
        time.sleep(0.1)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(app: str, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}"}
    proc = subprocess.Popen(
        [str(PY), "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), app],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=1)
            break
        except urllib.error.HTTPError:
            break  # the baseline has no /healthz: it answers 404, so it is up
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        raise RuntimeError(f"gunicorn {app} did not start")
    return proc, base


def start_redis(workdir: str, *extra: str) -> tuple[subprocess.Popen, str]:
    """A private redis-server (AOF on, fsync every second, as DESIGN.md runs it) so other jobs' traffic stays out."""
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", workdir]
        + ["--appendonly", "yes", "--appendfsync", "everysec", *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            return proc, url
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("redis-server did not start") from None
            time.sleep(0.05)


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def workers_of(proc: subprocess.Popen) -> list[int]:
    return [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]


def wrk(base: str, script: str, seconds: int, connections: int, threads: int, *args: str) -> dict:
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--latency", "-s", script, base, "--"]
        + list(args),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)  # only wrk was reaped in between
    wrk_cpu = sum(getattr(children_after, f) - getattr(children_before, f) for f in ("ru_utime", "ru_stime"))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    errors = re.search(r"Socket errors: (.*)", out)
    lat = {}
    for pct in ("50", "90", "99"):
        m = re.search(rf"\s{pct}(?:\.000)?%\s+([\d.]+)(us|ms|s)", out)
        value, unit = float(m.group(1)), m.group(2)
        lat[pct] = value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    return {
        "rps": rps,
        "requests": total,
        "non2xx": non2xx,
        "socket_errors": errors.group(1) if errors else "",
        **lat,
        "wrk_cpu": wrk_cpu,
    }


def _decomposition(rounds: list[dict[str, dict]]) -> str:
    """Each single-event run ÷ bare Flask of the same round (median over rounds)."""

    def ratio(name: str) -> str:
        values = sorted(r[name]["rps"] / r["baseline_single"]["rps"] for r in rounds)
        return f"**{statistics.median(values):.2f}×** ({', '.join(f'{v:.2f}' for v in values)})"

    return f"""- Decomposition, single events ÷ bare Flask 204 of the same round, median (rounds): plain WSGI 204 without
  Flask {ratio("wsgi204_single")}; the collector with its Redis call answered from memory {ratio("noredis_single")};
  the collector {ratio("collector_single")}; the collector with its fast path off, every request through Flask's
  views (`ANALYTICS_COLLECTOR_FAST_PATH=0`) {ratio("flaskpath_single")}. Apps: bench/collector_floor_apps.py.
"""


def _browser_batches(rounds: list[dict[str, dict]], seconds: int) -> str:
    """Browser batches beside /v1/track/batch, paired within each round: accepted events/s and CPU per event."""
    lines = []
    for name, what, base in (
        ("segment_b_batch50", "analytics.js batches (/segment/v1/b)", "server_batch50"),
        ("cors_batch50", "CORS", "collector_batch50"),
    ):
        pairs = [r for r in rounds if name in r and base in r]
        if not pairs:
            continue
        ratios = [r[name]["appended"] / max(1, r[base]["appended"]) for r in pairs]
        cpu = [
            (r[name]["cpu_us"] * r[name]["requests"] / max(1, r[name]["appended"]))
            / (r[base]["cpu_us"] * r[base]["requests"] / max(1, r[base]["appended"]))
            for r in pairs
        ]
        lines.append(
            f"- {what} ÷ the same events to `/v1/track/batch` (run {base}), paired per round: accepted events/s "
            f"{', '.join(f'{x:.2f}' for x in ratios)} (best {max(r[name]['appended'] for r in pairs) / seconds:,.0f}/s); "
            f"CPU per accepted event {', '.join(f'{x:.2f}' for x in cpu)}× (target: ≤ 1.0, no dearer than a server's).\n"
        )
    return "".join(lines)


def _met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def in_process(settings: Settings, batches: int = 200) -> dict[str, float]:
    """Where a batch's time goes without HTTP: validation + one Redis call, and the Redis call alone (µs/event)."""
    from analytics.collect.events import now_utc
    from analytics.collect.ingest import _item
    from ingest_api import create_app

    app = create_app(settings)
    ingestor = app.extensions["analytics.ingestor"]
    ingestor.refs.warm()
    run = uuid.uuid4().hex[:6]

    def batch(b: int) -> list[dict]:
        return [
            {
                "eventType": "asset_viewed",
                "source": "web",
                "actorId": f"usr_{i % 50 + 1:03d}",
                "entityId": f"ast_{i % 100 + 1:03d}",
                "entityType": "asset",
                "sessionId": f"ip-{run}-{b}-{i}",
                "props": {"viewDurationMs": i},
                "attribution": {
                    "utmSource": "newsletter",
                    "utmMedium": "email",
                    "landingPage": "https://example.com/a",
                },
            }
            for i in range(50)
        ]

    raw = [batch(b) for b in range(2 * batches)]
    t0, cpu0 = time.perf_counter(), time.process_time()
    for items in raw[:batches]:
        ingestor.ingest(items, now_utc(), "Mozilla/5.0", "10.0.0.1")
    ingest_us = (time.perf_counter() - t0) * 1e6 / (batches * 50)
    ingest_cpu_us = (time.process_time() - cpu0) * 1e6 / (batches * 50)
    now = now_utc()
    prepared = [
        [_item(ingestor.prepare(e, now, "Mozilla/5.0", "10.0.0.1"), True) for e in items] for items in raw[batches:]
    ]
    t0 = time.perf_counter()
    for items in prepared:
        ingestor.writer.append(items)
    append_us = (time.perf_counter() - t0) * 1e6 / (batches * 50)
    return {"ingest_us": ingest_us, "ingest_cpu_us": ingest_cpu_us, "append_us": append_us}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rate", type=int, default=1000, help="offered requests/s for the latency run")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds; the best round of each run counts")
    parser.add_argument("--write", help="rewrite this run's section of this markdown file")
    parser.add_argument(
        "--section", default="Collector run: gevent, 2 workers", help='the section\'s title (a "Collector run" one)'
    )
    parser.add_argument(
        "--shared-redis", action="store_true", help="use REDIS_URL instead of a private redis-server (AOF everysec)"
    )
    parser.add_argument(
        "--only",
        default="",
        help="run only the runs whose name contains this, or one of these comma-separated parts (exploration)",
    )
    parser.add_argument(
        "--replica",
        action="store_true",
        help="give the private redis-server a replica and pair the single, paced and batch runs with WAIT 1 runs",
    )
    parser.add_argument(
        "--decompose",
        action="store_true",
        help="also run single events against plain WSGI (no Flask) and the collector without Redis",
    )
    opts = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk not found: apt-get install -y wrk")
    if opts.replica and opts.shared_redis:
        sys.exit("--replica replicates the bench's private redis-server: drop --shared-redis")

    base_settings = Settings.from_env()
    params = conninfo_to_dict(base_settings.database_url)
    params["dbname"] = f"analytics_bench_{os.getpid()}"
    dsn = make_conninfo(**params)
    prefix = f"bench:{uuid.uuid4().hex[:8]}"
    workdir = tempfile.mkdtemp(prefix="collector-bench-")
    redis_proc, redis_url = (None, base_settings.redis_url) if opts.shared_redis else start_redis(workdir)
    replica_proc = None
    if opts.replica:
        replica_dir = Path(workdir) / "replica"
        replica_dir.mkdir()
        try:
            replica_proc, replica_url = start_redis(
                str(replica_dir), "--replicaof", "127.0.0.1", str(urlparse(redis_url).port)
            )
            wait_cost.wait_synced(replica_url)
        except BaseException:
            for server in (replica_proc, redis_proc):
                if server is not None:
                    stop(server)
            raise
    redis_pids = [p.pid for p in (redis_proc, replica_proc) if p is not None]
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "REDIS_URL": redis_url,
        "ANALYTICS_KEY_PREFIX": prefix,
        "ANALYTICS_STREAM_KEY": f"{prefix}:events",
        "PYTHONPATH": f"{ROOT}:{ROOT / 'include'}:{ROOT / 'clients/python/src'}",
    }
    workers = env.setdefault("GUNICORN_WORKERS", str(base_settings.gunicorn_workers))
    threads = env.setdefault("GUNICORN_THREADS", str(base_settings.gunicorn_threads))
    worker_class = env.setdefault("GUNICORN_WORKER_CLASS", base_settings.gunicorn_worker_class)
    gunicorn_env = f"GUNICORN_WORKER_CLASS={worker_class} GUNICORN_WORKERS={workers}" + (
        f" GUNICORN_THREADS={threads}" if worker_class == "gthread" else ""
    )
    client = redis.Redis.from_url(redis_url)
    script = Path(workdir) / "events.lua"
    script.write_text(WRK_SCRIPT)
    ensure_database(dsn)
    results: dict[str, dict] = {}
    rounds: list[dict[str, dict]] = []
    load_before = os.getloadavg()[0]
    try:
        migrate(dsn)
        seed(dsn)
        bench_settings = Settings.from_env(env)
        micro = in_process(bench_settings)
        print("in-process", micro, flush=True)
        # Closed loop with think time: each connection sends, waits for the answer, then waits think_ms.
        # 24 connections × 20 ms ≈ 1,200/s before latency, ≈ 1,000/s with a few ms of it; the achieved rate is reported.
        paced_conns = max(1, round(opts.rate * 0.024))
        think_ms = 20
        runs = [
            ("baseline_single", "bench.collector_baseline_app:app", opts.connections, ["0", "0"]),
            ("collector_single", "ingest_api.wsgi:app", opts.connections, ["0", "0"]),
            ("collector_paced", "ingest_api.wsgi:app", paced_conns, ["0", str(think_ms)]),
        ]
        if opts.decompose:
            runs[2:2] = [
                ("wsgi204_single", "bench.collector_floor_apps:wsgi_204", opts.connections, ["0", "0"]),
                (
                    "flaskpath_single",
                    "bench.collector_floor_apps:collector_through_flask()",
                    opts.connections,
                    ["0", "0"],
                ),
                (
                    "noredis_single",
                    "bench.collector_floor_apps:collector_without_redis()",
                    opts.connections,
                    ["0", "0"],
                ),
            ]
        runs += [
            ("baseline_batch50", "bench.collector_baseline_app:app", opts.connections // 2, ["50", "0"]),
            ("collector_batch50", "ingest_api.wsgi:app", opts.connections // 2, ["50", "0"]),
            ("server_batch50", "ingest_api.wsgi:app", opts.connections // 2, ["50", "0", "server"]),
            ("segment_b_batch50", "ingest_api.wsgi:app", opts.connections // 2, ["50", "0", "segment"]),
            ("cors_batch50", "ingest_api.wsgi:app", opts.connections // 2, ["50", "0", "cors"]),
        ]
        # The CORS run's collector allows the origin its requests carry; the others run with CORS off.
        cors_env = {**env, "ANALYTICS_CORS_ORIGINS": "https://shop.example"}
        wait_env = {**env, **wait_cost.ENV}
        if opts.replica:
            runs = wait_cost.with_wait_runs(runs)
        runs = [run for run in runs if any(part in run[0] for part in opts.only.split(","))]
        for rnd in range(opts.rounds):
            rounds.append({})
            for name, app, conns, args in runs:
                run_env = wait_env if name.endswith(wait_cost.SUFFIX) else cors_env if name.startswith("cors") else env
                proc, base = start_gunicorn(app, run_env)
                try:
                    if not name.startswith(("baseline", "wsgi204")):
                        # Warm: the script cached in Redis, the known-id sets filled, each worker's imports done.
                        wrk(base, str(script), 2, 4, 1, "1", "0", f"warm{rnd}{name}")
                    before = client.xlen(f"{prefix}:events")
                    # CPU by process: on a shared machine µs per request is steadier than requests/s.
                    pids = workers_of(proc)
                    cpu0 = [cpu_seconds(p) for p in pids]
                    redis_cpu0 = sum(map(cpu_seconds, redis_pids))  # the replica's too, with --replica
                    r = wrk(base, str(script), opts.seconds, conns, 2, *args[:2], f"{rnd}{name}", *args[2:])
                    r["appended"] = client.xlen(f"{prefix}:events") - before
                    r["worker_cpu"] = [round(cpu_seconds(p) - c, 2) for p, c in zip(pids, cpu0, strict=True)]
                    r["redis_cpu"] = sum(map(cpu_seconds, redis_pids)) - redis_cpu0
                    r["cpu_us"] = (sum(r["worker_cpu"]) + r["redis_cpu"] + r["wrk_cpu"]) * 1e6 / max(1, r["requests"])
                finally:
                    stop(proc)
                    reset_redis(client, prefix)
                print(rnd, name, r, flush=True)
                rounds[-1][name] = r
                # The machine is shared: keep each run's least disturbed round (best throughput, or best p99 when paced).
                paced = name.startswith("collector_paced")
                better = r["99"] < results[name]["99"] if paced and name in results else None
                if name not in results or better or (better is None and r["rps"] > results[name]["rps"]):
                    results[name] = r
    finally:
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            client.delete(key)
        drop_database(dsn)
        for server in (replica_proc, redis_proc):
            if server is not None:
                stop(server)
        shutil.rmtree(workdir, ignore_errors=True)

    wait_report = wait_cost.summary(rounds, opts.seconds) if opts.replica else ""
    print(wait_report, flush=True)
    if not {"baseline_single", "collector_single", "collector_paced", "collector_batch50"} <= results.keys():
        return
    load_after = os.getloadavg()[0]
    # Ratios pair runs of the same round (neighbours in time), so a quiet minute does not flatter one side.
    ratios = sorted(r["collector_single"]["rps"] / r["baseline_single"]["rps"] for r in rounds)
    single_ratio = statistics.median(ratios)
    cpu_ratios = sorted(r["baseline_single"]["cpu_us"] / r["collector_single"]["cpu_us"] for r in rounds)
    batch_events = results["collector_batch50"]["appended"] / opts.seconds
    paced = results["collector_paced"]
    batch = results["collector_batch50"]
    batch_n = max(1, batch["appended"])
    batch_cpu = {
        "workers": sum(batch["worker_cpu"]) * 1e6 / batch_n,
        "Redis": batch["redis_cpu"] * 1e6 / batch_n,
        "wrk": batch["wrk_cpu"] * 1e6 / batch_n,
    }
    batch_cpu_total = sum(batch_cpu.values())
    report = (
        f"""## {opts.section}

Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on this machine ({os.cpu_count()} cores, shared with other
jobs: best of {opts.rounds} interleaved rounds per run), loopback, wrk ({opts.seconds} s per run, 2 wrk threads), gunicorn.conf.py with {gunicorn_env};
{"the shared Redis" if opts.shared_redis else "a private redis-server (AOF, fsync every second)"}{" with one replica (AOF too)" if opts.replica else ""},
Postgres local (shared with the other jobs); 1-minute load average
{load_before:.1f} before, {load_after:.1f} after. Reproduce: `apt-get install -y wrk` then
`{gunicorn_env} .venv/bin/python bench/collector_bench.py --rounds {opts.rounds}{" --decompose" if opts.decompose else ""}{" --replica" if opts.replica else ""} \\
--section "{opts.section}" --write BENCHMARKS.md`.

| run | requests/s | p50 ms | p99 ms | non-2xx | events appended | CPU µs/request | CPU s per worker |
|---|---:|---:|---:|---:|---:|---:|---|
"""
        + "\n".join(
            f"| {name} | {r['rps']:,.0f} | {r['50']:.2f} | {r['99']:.2f} | {r['non2xx']} | {r['appended']:,} "
            f"| {r['cpu_us']:,.0f} | {' / '.join(f'{c:.1f}' for c in r['worker_cpu'])} |"
            for name, r in results.items()
        )
        + f"""

- Single events: collector ÷ bare Flask 204, paired within each round: median **{single_ratio:.2f}×**
  (rounds: {", ".join(f"{x:.2f}" for x in ratios)}; target ≥ 0.7: {_met(single_ratio >= 0.7)}). By CPU
  (gunicorn workers + Redis + wrk, µs per request; steadier than requests/s on a shared machine), baseline ÷
  collector per round: {", ".join(f"{x:.2f}" for x in cpu_ratios)}.
- Paced run aiming at ~{opts.rate} requests/s ({paced_conns} connections, {think_ms} ms think time each; achieved
  **{paced["rps"]:,.0f}/s**): p99 **{paced["99"]:.1f} ms** (target ≤ 25 ms at 1,000/s:
  {_met(paced["99"] <= 25 and paced["rps"] >= 0.95 * opts.rate)}). wrk is closed-loop, so when the server
  falls behind the offered rate drops instead of queueing (coordinated omission): read p99 with the achieved rate.
- Batches of 50: **{batch_events:,.0f} accepted events/s** in the best round (rounds:
  {", ".join(f"{r['collector_batch50']['appended'] / opts.seconds:,.0f}" for r in rounds)}; stream growth ÷
  duration; target ≥ 30,000: {_met(batch_events >= 30_000)}). CPU per accepted event {batch_cpu_total:.0f} µs
  ({", ".join(f"{k} {v:.0f}" for k, v in batch_cpu.items())}): two otherwise idle cores would allow
  ≈ {2e6 / batch_cpu_total:,.0f} events/s (a projection from CPU time, not a measurement).
- In-process, no HTTP (same run, before the HTTP runs): `Ingestor.ingest` on batches of 50 takes
  **{micro["ingest_cpu_us"]:.0f} µs of CPU per event** in this process ({micro["ingest_us"]:.0f} µs elapsed, Redis
  included), of which the one Redis call (`StreamWriter.append`: reference check, dedupe, XADD, counters) is
  {micro["append_us"]:.0f} µs/event elapsed, round trip included.
{_browser_batches(rounds, opts.seconds)}{_decomposition(rounds) if opts.decompose else ""}- Each collector request: schema + rules + props validation, reference check, dedupe and XADD in one Redis
  call, answered by the fast path (ingest_api/fast.py: plain requests below Flask's request machinery, inside the
  metrics wrapper); the baseline reads the body and answers 204. "CPU s per worker" shows how gunicorn spread the
  connections (`reuse_port` in gunicorn.conf.py).
{wait_report}"""
    )
    print(report)
    if opts.write:
        path = Path(opts.write)
        text = path.read_text() if path.exists() else "# Benchmarks\n"
        header = f"## {opts.section}\n"
        start = text.find(header)
        if start == -1:
            text = text.rstrip() + "\n\n" + report
        else:
            end = text.find("\n## ", start + 1)
            text = text[:start] + report + ("\n" + text[end + 1 :] if end != -1 else "")
        path.write_text(text)


if __name__ == "__main__":
    main()
