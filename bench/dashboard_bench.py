"""Dashboard payload cost: analytics.monitor.dashboard.overview() against the /v1/admin/stats reads, on a generated day.

    .venv/bin/python bench/dashboard_bench.py [--rows 300000] [--repeat 15]

Creates a throwaway database (dropped afterwards) with `--rows` events spread over the last 24 h, all
but the last two hours enriched, 24 h of per-minute collector counters under a throwaway Redis prefix
(deleted afterwards), then times (median of `--repeat`): the baseline, what GET /v1/admin/stats reads
(collector_summary over 1 m/5 m/1 h/24 h, the 60-minute series, stream_health, last_load); the
dashboard payload with a 3 h and a 24 h chart; and the enrichment-backlog query alone.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import redis
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from analytics.collect import stats
from analytics.collect.keys import STATS_BUCKET_SECONDS, Keys, stat_field, stats_bucket
from analytics.config import Settings
from analytics.db import connect, drop_database, ensure_database
from analytics.migrate import migrate
from analytics.monitor.dashboard import overview
from analytics.sql import load_sql

GENERATE = """
INSERT INTO analytics.events (id, event_type, source, occurred_at, received_at, fingerprint)
SELECT gen_random_uuid(), 'page_viewed', 'web', t, t, 'fp'
FROM (SELECT %(start)s::timestamptz + (i * %(step)s::double precision) * interval '1 second' AS t
      FROM generate_series(1, %(rows)s) AS i) g
"""
ENRICH = """
INSERT INTO analytics.event_context (event_id, received_at)
SELECT id, received_at FROM analytics.events WHERE received_at < %(until)s
"""
FIELDS = [
    stat_field(o, r, s, t)
    for o, r in (("accepted", ""), ("duplicate", "fingerprint"), ("duplicate", "idempotency_key"), ("rejected", "x"))
    for s in ("web", "ios")
    for t in ("page_viewed", "asset_viewed")
]


def _median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--explain", action="store_true", help="print the backlog query's plan (EXPLAIN ANALYZE)")
    args = parser.parse_args()

    base = Settings.from_env()
    params = conninfo_to_dict(base.database_url)
    params["dbname"] = f"analytics_bench_dash_{uuid.uuid4().hex[:6]}"
    dsn = make_conninfo(**params)
    prefix = f"bench:dash:{uuid.uuid4().hex[:8]}"
    settings = base.with_overrides(database_url=dsn, key_prefix=prefix, stream_key=f"{prefix}:events")
    client = redis.Redis.from_url(settings.redis_url)
    keys = Keys(prefix, settings.stream_key)
    ensure_database(dsn)
    try:
        migrate(dsn)
        now = datetime.now(UTC)
        with connect(dsn, autocommit=True) as conn:
            conn.execute(GENERATE, {"start": now - timedelta(hours=24), "step": 86_400 / args.rows, "rows": args.rows})
            conn.execute(ENRICH, {"until": now - timedelta(hours=2)})
            # A loader watermark, so the monitor's enrichment check runs its full query as in production.
            conn.execute(
                "INSERT INTO analytics.load_runs (started_at, finished_at, watermark) VALUES (%(t)s, %(t)s, %(t)s)",
                {"t": now},
            )
            conn.execute("VACUUM ANALYZE analytics.events")
            conn.execute("VACUUM ANALYZE analytics.event_context")
        pipe = client.pipeline(transaction=False)
        current = stats_bucket()
        for i in range(24 * 60):
            bucket = keys.stats(current - i * STATS_BUCKET_SECONDS)
            pipe.hset(bucket, mapping={f: 1 + (i + n) % 7 for n, f in enumerate(FIELDS)})
            pipe.expire(bucket, 3600)
        pipe.execute()

        def admin_stats() -> None:
            for seconds in (60, 300, 3600, 86_400):
                stats.collector_summary(client, keys, seconds)
            stats.collector_timeseries(client, keys, 60)
            stats.stream_health(client, settings.stream_key, settings.consumer_group)
            with connect(dsn, autocommit=True) as conn:
                stats.last_load(conn)

        until = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        window = {"since": until - timedelta(hours=24), "until": until}

        def backlog(sql: str):
            with connect(dsn, autocommit=True) as conn:
                return conn.execute(sql, window).fetchall()

        shipped = load_sql("dashboard/select_enrichment_backlog")

        if args.explain:
            print("\n".join(r[0] for r in backlog(f"EXPLAIN (ANALYZE, BUFFERS) {shipped}")), "\n")
        baseline = _median_ms(admin_stats, args.repeat)
        print(f"rows={args.rows:,} counters=1440 minutes x {len(FIELDS)} fields, median of {args.repeat}")
        print(f"baseline /v1/admin/stats reads: {baseline:8.1f} ms")
        payload = overview(settings, hours=24)
        failed = {k: v["error"] for k, v in payload.items() if isinstance(v, dict) and not v["ok"]}
        assert not failed, f"sections failed: {failed}"
        cases = {
            "dashboard overview, 3 h chart": lambda: overview(settings, hours=3),
            "dashboard overview, 24 h chart": lambda: overview(settings, hours=24),
            "enrichment backlog query alone": lambda: backlog(shipped),
        }
        # Interleaved rounds, so load from elsewhere on the machine hits every case alike.
        samples: dict[str, list[float]] = {label: [] for label in cases}
        for _ in range(args.repeat):
            for label, fn in cases.items():
                samples[label].append(_median_ms(fn, 1))
        for label, times in samples.items():
            ms = statistics.median(times)
            print(f"{label:31s} {ms:8.1f} ms  ({ms / baseline:.2f}x baseline)")
    finally:
        doomed = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if doomed:
            client.delete(*doomed)
        client.close()
        drop_database(dsn)


if __name__ == "__main__":
    os.environ.setdefault("TZ", "UTC")
    main()
