"""events_monitor pass cost on a production-sized database: one `monitor()` pass, each of its checks, the alert steps,
and the dashboard payload, with the plan of every statement they run.

    .venv/bin/python bench/monitor_bench.py [--days 180] [--per-day 25000] [--recent-days 2] [--recent-per-day 1000000]
    .venv/bin/python bench/monitor_bench.py --keep              # generate, time, keep the database (prints its name)
    .venv/bin/python bench/monitor_bench.py --db NAME [--explain] [--migrate]   # time a kept one again
    .venv/bin/python bench/monitor_bench.py --db NAME --code ../other-checkout  # the same database, other code
    .venv/bin/python bench/monitor_bench.py --db NAME --drop    # drop a kept one

Generates, set-based in SQL, `--days` daily partitions of events (`--per-day` each, the last `--recent-days` at
`--recent-per-day`: the monitored window at production rate over a long history), their event_context rows (all
but the last ~1.5 h, which enrichment has not reached yet), sessions, user agents, a loader run per minute for
`--load-days`, job_runs (monitor every 5 min, enrich hourly, dedup nightly, for `--job-days`), `--alerts` alerts
over 90 days (a few task failures still firing), count_checks hourly, collector and loader rejections, dropped
events; and in Redis (a throwaway key prefix, deleted afterwards) the stream with its group and the collector's
per-minute counters for the last 26 h, equal to what is stored (so the count check finds nothing missing).

Then times (median of `--repeat` passes): the whole pass, each check inside it, the alert steps, the count check
with a day of hours to compare (first pass, or hours re-checked), and the dashboard payload. `--explain` prints
every statement of one pass with its EXPLAIN (ANALYZE, BUFFERS) plan (auto_explain, at NOTICE level).
`--migrate` applies pending migrations to a kept database first (before/after an index on the same data).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import redis
from psycopg.conninfo import conninfo_to_dict, make_conninfo


def _code() -> Path:
    """--code DIR: the checkout whose pipeline (SQL, checks, migrations) is measured; this one by default."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--code", type=Path, default=Path(__file__).resolve().parents[1])
    return pre.parse_known_args()[0].code.resolve()


CODE = _code()
sys.path[:0] = [str(CODE / "include"), str(CODE)]

import analytics.monitor.dashboard as dashboard_mod  # noqa: E402
import analytics.monitor.job as job_mod  # noqa: E402
from analytics.collect.keys import STATS_BUCKET_SECONDS, Keys, stat_field  # noqa: E402
from analytics.config import Settings  # noqa: E402
from analytics.db import connect, drop_database, ensure_database  # noqa: E402
from analytics.migrate import migrate  # noqa: E402
from analytics.seed import seed  # noqa: E402

UAS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537",
    "AssetApp/5.2.1 (iOS 17.4; iPhone15,2)",
    "AssetApp/5.2.0 (Android 14; SM-S918B)",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
]

# One day of events: row i at an even step through [lo, hi), hi at most now. ~60 % carry a client session (about
# 12 events each), a third an entity, 0.5 % are marked duplicates, 20 % carry an idempotency key.
EVENTS = """
INSERT INTO analytics.events (id, event_type, source, occurred_at, received_at, sent_at, actor_id, actor_type,
                              session_id, entity_id, entity_type, props_json, idempotency_key, fingerprint,
                              user_agent, ip_address, stream_id, loaded_at)
SELECT gen_random_uuid(), g.type, g.source, g.r - (i %% 3000) * interval '1 ms', g.r, g.r - interval '20 ms',
       'usr_' || (i * 7919 %% 50000), 'user',
       CASE WHEN i %% 10 < 6 THEN 's' || %(tag)s || '_' || (i %% %(sessions)s) END,
       CASE WHEN i %% 3 = 0 THEN 'ast_' || (i %% 5000) END, CASE WHEN i %% 3 = 0 THEN 'asset' END,
       CASE WHEN i %% 200 = 0 THEN jsonb_build_object('_duplicate', jsonb_build_object('of', gen_random_uuid(),
                                                                                      'rule', 'bench'))
            ELSE jsonb_build_object('path', '/a/' || (i %% 1000)) END,
       CASE WHEN i %% 5 = 4 THEN 'k' || %(tag)s || '_' || i END,
       left(md5(%(tag)s || '_' || i), 16),
       CASE WHEN g.source <> 'server' THEN (%(uas)s::text[])[1 + i %% 8] END,
       '10.0.0.0'::inet + (i %% 65536),
       (extract(epoch FROM g.r) * 1000)::bigint || '-0', g.r + interval '2 s'
FROM generate_series(0::bigint, %(rows)s - 1) AS i,
     LATERAL (SELECT %(lo)s::timestamptz + (i * %(step)s::double precision) * interval '1 second' AS r,
                     (ARRAY['page_viewed','asset_viewed','asset_downloaded','search_performed','license_purchased',
                            'project_created'])[1 + (i * 7) %% 6] AS type,
                     (ARRAY['web','web','ios','android','server'])[1 + i %% 5] AS source) AS g
WHERE g.r < %(hi)s
"""
CONTEXT = """
INSERT INTO analytics.event_context (event_id, received_at, enriched_at, ua_md5, session_id, referrer, landing_page,
                                     utm_source, duplicate)
SELECT id, received_at, received_at + interval '70 min',
       CASE WHEN user_agent <> '' THEN md5(user_agent)::uuid END, session_id,
       CASE WHEN session_id IS NULL THEN 'https://www.google.com/' END,
       CASE WHEN session_id IS NULL THEN '/a/landing' END, CASE WHEN session_id IS NULL THEN 'newsletter' END,
       props_json ? '_duplicate'
FROM analytics.events
WHERE received_at >= %(lo)s AND received_at < %(hi)s
"""
SESSIONS = """
INSERT INTO analytics.sessions (session_id, actor_id, started_at, last_event_at, event_count, referrer, landing_page,
                                utm_source, first_event_id)
SELECT 's' || %(tag)s || '_' || j, 'usr_' || (j * 7919 %% 50000), %(lo)s::timestamptz + j * interval '1 s',
       %(lo)s::timestamptz + j * interval '1 s' + interval '20 min', 12, 'https://www.google.com/', '/a/landing',
       'newsletter', gen_random_uuid()
FROM generate_series(0, %(sessions)s - 1) AS j
"""
# Collector rejections (0.5 %), loader set-asides (0.01 %, their COPY line's first column the received_at) and
# events dropped for a held idempotency key (0.05 %) of one day.
REJECTED = """
INSERT INTO analytics.rejected_events (stage, reason, detail, payload, source, event_type, stream_id, stream,
                                       rejected_at, recorded_at)
SELECT CASE WHEN i %% 50 = 0 THEN 'loader' ELSE 'collector' END,
       CASE WHEN i %% 50 = 0 THEN 'copy_failed' ELSE 'schema' END, '{"field": "props"}'::jsonb,
       CASE WHEN i %% 50 = 0 THEN to_char(r AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || E'\t' ELSE '' END
           || '{"eventType":"asset_viewed","source":"web","props":{"viewDurationMs":"' || repeat('x', 200) || '"}}',
       'web', 'asset_viewed', (extract(epoch FROM r) * 1000)::bigint || '-' || i, %(stream)s, r + interval '1 s',
       r + interval '1 s'
FROM generate_series(0, %(rows)s - 1) AS i,
     LATERAL (SELECT %(lo)s::timestamptz + (i * %(step)s::double precision) * interval '1 second' AS r) AS g
WHERE r < %(hi)s
"""
DROPPED = """
INSERT INTO analytics.dropped_events (id, received_at, reason, source, idempotency_key, kept_id, dropped_at)
SELECT gen_random_uuid(), r, 'idempotency_key', 'server', 'dk' || %(tag)s || '_' || i, gen_random_uuid(),
       r + interval '2 s'
FROM generate_series(0, %(rows)s - 1) AS i,
     LATERAL (SELECT %(lo)s::timestamptz + (i * %(step)s::double precision) * interval '1 second' AS r) AS g
WHERE r < %(hi)s
"""
# A loader run a minute, and one from before 0015 (stream NULL) that retention keeps: each stream's highest.
LOAD_RUNS = """
INSERT INTO analytics.load_runs (run_id, consumer, stream, started_at, finished_at, entries_read, inserted,
                                 already_present, rejected, reclaimed, collector_rejections, batches, lag_left,
                                 pending_left, trimmed, max_received_at, watermark, duration_ms)
SELECT 'scheduled__' || t, 'loader-1', stream, t - interval '3 s', t, 700, 698, 0, 0, 0, 2, 1, 0, 0, 700,
       t - interval '1 s', t - interval '6 s', 3000
FROM (SELECT t, %(stream)s FROM generate_series(%(now)s::timestamptz - %(days)s * interval '1 day',
                                                %(now)s::timestamptz - interval '20 s', interval '1 min') AS t
      UNION ALL
      SELECT %(now)s::timestamptz - (%(days)s + 1) * interval '1 day', NULL) AS r(t, stream)
"""
JOB_RUNS = """
INSERT INTO analytics.job_runs (job, run_id, interval_start, interval_end, started_at, finished_at, stats)
SELECT 'monitor', 'scheduled__' || t, t - interval '15 min', t, t, t + interval '2 s',
       jsonb_build_object('figures', jsonb_build_object(
           'collector', jsonb_build_object('accepted', 9000, 'rejected', 40, 'duplicatesFound', 30,
                                           'bySource', jsonb_build_object('web', 5000, 'ios', 2000, 'server', 2000)),
           'stream', jsonb_build_object('length', 1000, 'lag', 0, 'pending', 0, 'stream', 'analytics:events'),
           'load', jsonb_build_object('lastFinishedAt', t, 'minutesSince', 0.4),
           'counts', jsonb_build_object('hoursChecked', 0, 'missing', 0),
           'enrich', jsonb_build_object('waiting', 80000, 'overdue', 0)),
           'alerts', jsonb_build_object('fired', '[]'::jsonb, 'resolved', '[]'::jsonb), 'heartbeat', 'off')
FROM generate_series(%(now)s::timestamptz - %(days)s * interval '1 day', %(now)s::timestamptz - interval '5 min',
                     interval '5 min') AS t
UNION ALL
SELECT 'enrich', 'scheduled__' || t, t - interval '1 hour', t, t + interval '10 min', t + interval '12 min',
       jsonb_build_object('events', 40000, 'contextRows', 40000, 'sessions', 3000, 'userAgentsParsed', 3,
                          'stepsMs', jsonb_build_object('select', 900, 'sessions', 2000, 'context', 4000))
FROM generate_series(date_trunc('hour', %(now)s::timestamptz) - %(days)s * interval '1 day',
                     date_trunc('hour', %(now)s::timestamptz) - interval '2 hour', interval '1 hour') AS t
UNION ALL
SELECT 'dedup', 'scheduled__' || t, t - interval '1 day', t, t + interval '2 hour', t + interval '2 hour 10 min',
       jsonb_build_object('scanned', 900000, 'marked', 4500, 'rule', 'bench')
FROM generate_series(date_trunc('day', %(now)s::timestamptz) - %(days)s * interval '1 day',
                     date_trunc('day', %(now)s::timestamptz) - interval '1 day', interval '1 day') AS t
"""
# Resolved alerts over 90 days (monitor conditions and task failures, one row per failed try), a few task failures
# still firing.
ALERTS = """
INSERT INTO analytics.alerts (kind, alert_key, severity, state, title, message, details, dag_id, task_id, run_id,
                              log_url, channels, created_at, last_sent_at, resolved_at, send_count)
SELECT k.kind, k.kind || CASE WHEN k.kind = 'task_failed' THEN ':events_enrich:enrich:' || i ELSE '' END,
       'warning', CASE WHEN i <= 5 THEN 'firing' ELSE 'resolved' END, 'Bench alert ' || i,
       repeat('A line of the alert''s message. ', 20), jsonb_build_object('runAfter', t, 'mapIndex', -1, 'pad', i),
       CASE WHEN k.kind = 'task_failed' THEN 'events_enrich' ELSE 'events_monitor' END,
       CASE WHEN k.kind = 'task_failed' THEN 'enrich' ELSE 'check' END, 'scheduled__' || t,
       'http://airflow.example/dags/x/runs/' || i,
       CASE WHEN i %% 97 = 0 THEN '{"table": "recorded", "webhook": "failed: timeout", "slack": "sent"}'
            ELSE '{"table": "recorded", "webhook": "sent", "slack": "sent"}' END::jsonb,
       t, t, CASE WHEN i <= 5 THEN NULL ELSE t + interval '20 min' END, 1
FROM generate_series(1, %(n)s) AS i,
     LATERAL (SELECT %(now)s::timestamptz - (i::double precision / %(n)s) * interval '90 days' AS t,
                     CASE WHEN i <= 5 OR i %% 3 = 0 THEN 'task_failed'
                          ELSE (ARRAY['monitor.stream_lag', 'monitor.load_stale', 'monitor.enrich_backlog',
                                      'monitor.collector_dedup_rate', 'monitor.events_missing'])[1 + i %% 5]
                     END AS kind) AS k
"""
COUNT_CHECKS = """
INSERT INTO analytics.count_checks (hour, accepted, stored, dropped, set_aside, missing, checked_at)
SELECT h, 40000, 40000, 0, 0, 0, h + interval '1 hour 10 min'
FROM generate_series(date_trunc('hour', %(now)s::timestamptz) - %(days)s * interval '1 day',
                     date_trunc('hour', %(now)s::timestamptz) - interval '26 hour', interval '1 hour') AS h
"""
# Per minute and (source, type): what the collector counted accepted = stored + dropped + set aside, for the last
# 26 h (its counters' life).
ACCEPTED_PER_MINUTE = """
SELECT m, source, event_type, sum(n)::bigint FROM (
    SELECT date_trunc('minute', received_at) AS m, source, event_type, count(*) AS n
    FROM analytics.events WHERE received_at >= %(since)s GROUP BY 1, 2, 3
    UNION ALL
    SELECT date_trunc('minute', received_at), source, 'asset_viewed', count(*)
    FROM analytics.dropped_events WHERE received_at >= %(since)s GROUP BY 1, 2
    UNION ALL
    SELECT date_trunc('minute', split_part(payload, E'\t', 1)::timestamptz), 'web', 'asset_viewed', count(*)
    FROM analytics.rejected_events WHERE stage = 'loader' AND rejected_at >= %(since)s GROUP BY 1
) x GROUP BY 1, 2, 3
"""


def generate(dsn: str, s: Settings, args: argparse.Namespace, now: datetime) -> None:
    today = now.date()
    first = today - timedelta(days=args.days - 1)
    enriched_until = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    with connect(dsn, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        # Days before the install would never be counted: the migrations date from the first day.
        start = datetime.combine(first, datetime.min.time(), UTC)
        conn.execute("UPDATE public.schema_migrations SET applied_at = %s", (start,))
        conn.execute("SELECT analytics.ensure_event_partitions(%s, %s)", (first, args.days + 8))
        conn.execute(
            "INSERT INTO analytics.user_agents (ua_md5, ua, parser, browser_name, os_name, device_type, is_bot) "
            "SELECT md5(u)::uuid, u, 'bench', 'Browser', 'OS', 'desktop', u LIKE '%%bot%%' FROM unnest(%s::text[]) u",
            (UAS,),
        )
        t0 = time.perf_counter()
        total = 0
        for n in range(args.days):
            day: date = first + timedelta(days=n)
            lo = datetime.combine(day, datetime.min.time(), UTC)
            hi = min(lo + timedelta(days=1), now - timedelta(seconds=30))
            rows = args.recent_per_day if n >= args.days - args.recent_days else args.per_day
            p = {
                "tag": day.strftime("%Y%m%d"),
                "lo": lo,
                "hi": hi,
                "rows": rows,
                "step": 86_400 / rows,
                "sessions": max(1, rows // 20),
                "uas": UAS,
                "stream": s.stream_key,
            }
            with conn.transaction():
                total += conn.execute(EVENTS, p).rowcount
                conn.execute(CONTEXT, p | {"hi": min(hi, enriched_until)})
                conn.execute(SESSIONS, p)
                conn.execute(REJECTED, p | {"rows": rows // 200, "step": 86_400 / (rows // 200)})
                conn.execute(DROPPED, p | {"rows": rows // 2000, "step": 86_400 / (rows // 2000)})
            if n % 10 == 0 or n == args.days - 1:
                print(
                    f"  day {n + 1}/{args.days} {day}: {total:,} events, {time.perf_counter() - t0:.0f} s", flush=True
                )
        p = {"now": now, "stream": s.stream_key}
        conn.execute(LOAD_RUNS, p | {"days": args.load_days})
        conn.execute(JOB_RUNS, p | {"days": args.job_days})
        conn.execute(ALERTS, p | {"n": args.alerts})
        conn.execute(COUNT_CHECKS, p | {"days": args.job_days})
        print(f"  companions done, {time.perf_counter() - t0:.0f} s; VACUUM ANALYZE", flush=True)
        conn.execute("VACUUM ANALYZE")
        print(f"  generated in {time.perf_counter() - t0:.0f} s", flush=True)


def fill_redis(dsn: str, client: redis.Redis, s: Settings, now: datetime) -> None:
    """The stream, its group (500 entries delivered and acknowledged, 500 not yet delivered), the collector's
    per-minute counters for the last 26 h."""
    keys = Keys.from_settings(s)
    pipe = client.pipeline(transaction=False)
    for i in range(1000):
        pipe.xadd(keys.stream, {"e": f"{i}"})
    pipe.execute()
    client.xgroup_create(keys.stream, s.consumer_group, id="0")
    got = client.xreadgroup(s.consumer_group, "bench", {keys.stream: ">"}, count=500)
    client.xack(keys.stream, s.consumer_group, *[entry_id for entry_id, _ in got[0][1]])
    counters: dict[int, dict[str, int]] = defaultdict(dict)
    with connect(dsn, autocommit=True) as conn:
        for minute, source, event_type, n in conn.execute(ACCEPTED_PER_MINUTE, {"since": now - timedelta(hours=26)}):
            counters[int(minute.timestamp())][stat_field("accepted", "", source, event_type)] = n
    for bucket, fields in counters.items():
        pipe.hset(keys.stats(bucket), mapping=fields)
        pipe.expire(keys.stats(bucket), 27 * 3600)
    pipe.execute()
    assert all(b % STATS_BUCKET_SECONDS == 0 for b in counters)


class Timer:
    """Wraps module functions so that a real pass records how long each took (summed per name within one pass)."""

    def __init__(self) -> None:
        self.current: dict[str, float] = defaultdict(float)
        self.undo: list[tuple[Any, str, Any]] = []

    def wrap(self, module: Any, name: str, label: str | None = None) -> None:
        fn = getattr(module, name)

        def timed(*a: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                self.current[label or name] += (time.perf_counter() - t) * 1000

        setattr(module, name, timed)
        self.undo.append((module, name, fn))

    def take(self) -> dict[str, float]:
        out, self.current = dict(self.current), defaultdict(float)
        return out

    def restore(self) -> None:
        for module, name, fn in reversed(self.undo):
            setattr(module, name, fn)


MONITOR_STEPS = [
    "check_collector",
    "check_stream",
    "check_stream_history",
    "check_redis_durability",
    "check_load",
    "check_counts",
    "check_nightly",
    "check_enrich",
    "reconcile",
    "redeliver",
    "heartbeat",
]
DASHBOARD_STEPS = ["collector_section", "stream_section", "loads_section", "enrichment_section",
                   "nightly_dedup_section", "alerts_section"]  # fmt: skip


def explaining(connect_fn: Callable[..., psycopg.Connection], plans: list[str]) -> Callable[..., psycopg.Connection]:
    """`connect` with auto_explain on: every statement's EXPLAIN (ANALYZE, BUFFERS) comes back as a NOTICE."""

    def wrapped(*a: Any, **kw: Any) -> psycopg.Connection:
        conn = connect_fn(*a, **kw)
        conn.add_notice_handler(lambda d: plans.append(d.message_primary))
        for setting in ("LOAD 'auto_explain'", "SET auto_explain.log_min_duration = 0",
                        "SET auto_explain.log_analyze = on", "SET auto_explain.log_buffers = on",
                        "SET auto_explain.log_level = notice"):  # fmt: skip
            conn.execute(setting)
        return conn

    return wrapped


def time_all(dsn: str, client: redis.Redis, s: Settings, args: argparse.Namespace) -> None:
    timer = Timer()
    for name in MONITOR_STEPS:
        timer.wrap(job_mod, name)
    for name in DASHBOARD_STEPS:
        timer.wrap(dashboard_mod, name)
    try:
        with connect(dsn, autocommit=True) as conn:
            events = conn.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = 'analytics.events'::regclass")
            parts = conn.execute("SELECT count(*) FROM pg_inherits WHERE inhparent = 'analytics.events'::regclass")
            size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
            print(f"code {CODE}; database {conninfo_to_dict(dsn)['dbname']}: {size}, ~{events.fetchone()[0]:,} events "
                  f"(sum of partitions' estimates), {parts.fetchone()[0]} partitions")  # fmt: skip
        job_mod.monitor(dsn, client, s, datetime.now(UTC))  # warm-up: stream marks, alerts as they settle
        timer.take()
        passes: list[dict[str, float]] = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            job_mod.monitor(dsn, client, s, datetime.now(UTC))
            passes.append(timer.take() | {"monitor() pass": (time.perf_counter() - t) * 1000})
        # A day of hours to compare: the first pass after an outage of the count check, or hours that did not add
        # up being re-checked.
        day: list[float] = []
        for _ in range(args.repeat):
            with connect(dsn, autocommit=True) as conn:
                conn.execute("DELETE FROM analytics.count_checks WHERE hour >= now() - interval '26 hours'")
            job_mod.monitor(dsn, client, s, datetime.now(UTC))
            day.append(timer.take()["check_counts"])
        print(f"\nmonitor pass, median of {args.repeat} (ms; load average {os.getloadavg()[0]:.1f}):")
        for name in ["monitor() pass", *MONITOR_STEPS]:
            print(f"  {name:24s} {statistics.median(p.get(name, 0.0) for p in passes):9.1f}")
        print(f"  {'check_counts, 24 h due':24s} {statistics.median(day):9.1f}")

        dash: list[dict[str, float]] = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            dashboard_mod.overview(s, hours=24)
            dash.append(timer.take() | {"overview(hours=24)": (time.perf_counter() - t) * 1000})
        print(f"\ndashboard, median of {args.repeat} (ms):")
        for name in ["overview(hours=24)", *DASHBOARD_STEPS]:
            print(f"  {name:24s} {statistics.median(p.get(name, 0.0) for p in dash):9.1f}")
    finally:
        timer.restore()

    if args.explain:
        plans: list[str] = []
        for module in (job_mod, dashboard_mod):
            module.connect = explaining(connect, plans)
        try:
            with connect(dsn, autocommit=True) as conn:
                conn.execute("DELETE FROM analytics.count_checks WHERE hour >= now() - interval '26 hours'")
            job_mod.monitor(dsn, client, s, datetime.now(UTC))
            dashboard_mod.overview(s, hours=24)
        finally:
            job_mod.connect = dashboard_mod.connect = connect
        # One entry per statement text: how often it ran, its total time, the plan of its slowest run.
        by_text: dict[str, list[str]] = defaultdict(list)
        for plan in plans:
            by_text[plan.split("Query Text:", 1)[-1].split("\n\n", 1)[0].strip()].append(plan)
        ranked = sorted(by_text.values(), key=lambda runs: sum(map(_duration, runs)), reverse=True)
        print(f"\n{len(plans)} statements ({len(ranked)} distinct), by total time:")
        for runs in ranked:
            print("-" * 100)
            print(f"runs: {len(runs)}, total {sum(map(_duration, runs)):.1f} ms; the slowest:")
            print(max(runs, key=_duration))


def _duration(plan: str) -> float:
    first = plan.split("\n", 1)[0]  # "duration: 12.345 ms  plan:"
    try:
        return float(first.split("duration:")[1].split("ms")[0])
    except (IndexError, ValueError):
        return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=180, help="daily partitions of events")
    parser.add_argument("--per-day", type=int, default=25_000, help="events per day before the recent days")
    parser.add_argument("--recent-days", type=int, default=2, help="the last days (today included) at --recent-per-day")
    parser.add_argument("--recent-per-day", type=int, default=1_000_000)
    parser.add_argument("--load-days", type=int, default=60, help="days of loader runs, one a minute")
    parser.add_argument("--job-days", type=int, default=90, help="days of job_runs and count_checks")
    parser.add_argument("--alerts", type=int, default=30_000, help="alerts over the last 90 days")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--explain", action="store_true", help="print every statement's plan (one more pass)")
    parser.add_argument("--keep", action="store_true", help="keep the generated database (and Redis keys)")
    parser.add_argument("--db", help="time a kept database (its name) instead of generating one")
    parser.add_argument("--migrate", action="store_true", help="with --db: apply pending migrations first")
    parser.add_argument("--drop", action="store_true", help="with --db: drop it and its Redis keys, nothing else")
    parser.add_argument("--code", type=Path, default=CODE, help="the checkout measured (A/B: the other one's path)")
    args = parser.parse_args()
    logging.disable(logging.ERROR)  # not the alerts the passes raise (a kept database goes stale: load_stale)

    base = Settings.from_env()
    name = args.db or f"analytics_bench_mon_{uuid.uuid4().hex[:6]}"
    dsn = make_conninfo(**(conninfo_to_dict(base.database_url) | {"dbname": name}))
    prefix = f"bench:{name}"  # the database names its Redis keys: a kept one finds them again
    s = base.with_overrides(database_url=dsn, key_prefix=prefix, stream_key=f"{prefix}:events", heartbeat_url=None,
                            alert_webhook_url=None, alert_slack_webhook_url=None, alert_email_to=(),
                            monitor_require_durable_redis=False)  # fmt: skip
    client = redis.Redis.from_url(s.redis_url)
    keep = False  # a database half generated is dropped whatever --keep says
    try:
        if args.drop:
            return
        if args.db:
            if args.migrate:
                print("applied:", migrate(dsn) or "nothing")
                with connect(dsn, autocommit=True) as conn:
                    conn.execute("ANALYZE")
        else:
            now = datetime.now(UTC)
            ensure_database(dsn)
            migrate(dsn)
            seed(dsn)
            generate(dsn, s, args, now)
            fill_redis(dsn, client, s, now)
        keep = args.keep or bool(args.db)
        time_all(dsn, client, s, args)
        if keep:
            print(f"\nkept: --db {name}")
    finally:
        if not keep:
            doomed = list(client.scan_iter(match=f"{prefix}:*", count=1000))
            if doomed:
                client.delete(*doomed)
            drop_database(dsn)
        client.close()


if __name__ == "__main__":
    os.environ.setdefault("TZ", "UTC")
    main()
