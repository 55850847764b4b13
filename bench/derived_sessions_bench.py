"""Enrichment of browser traffic (no sessionId: sessions derived) against the same traffic with client session ids.

    .venv/bin/python bench/derived_sessions_bench.py [--visits 10000] [--rounds 5] [--days 0] [--code DIR]

A throwaway database (created, migrated, dropped) holds two copies of the same generated visits: one hour of
page views from `--visits` visitors, six per visit four minutes apart, a third of the visits begun in the hour
before (which is enriched first, untimed), with `--days` daily partitions of analytics.events before it (a
year's retention keeps 365: each lookup of an actor's events probes each). In the "browser" copy the events carry no session id, so enrichment
derives the sessions (sql/enrich/insert_derived_sessions.sql); in the "server" copy each visit carries its own.
Each round enriches the hour of each copy as a first run (its rows and sessions removed untimed before), in
turn, and reports milliseconds and browser ÷ server. --code DIR imports the pipeline from another checkout
(e.g. a `git worktree` of an older commit): an A/B of the derivation.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOUR = datetime(2026, 6, 1, 0, tzinfo=UTC)  # midnight: visits begun the day before cross it

GENERATE = """
INSERT INTO analytics.events (id, event_type, source, occurred_at, received_at, actor_id, actor_type, session_id,
                              fingerprint, props_json, attribution_json, user_agent)
SELECT gen_random_uuid(), 'page_viewed', 'web', o, o + interval '1 second', %(kind)s || '-' || v, 'anonymous',
       CASE WHEN %(kind)s = 'server' THEN 's-' || v END, md5(random()::text), jsonb_build_object('path', '/p' || k),
       CASE WHEN k = 0 THEN '{"utmSource": "news", "referrer": "https://news.example/"}'::jsonb ELSE '{}' END,
       'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36'
  FROM generate_series(1, %(visits)s) AS v,
       generate_series(0, 5) AS k,
       LATERAL (SELECT %(hour)s::timestamptz - interval '20 minutes' + (v %% 3600) * interval '1 second'
                       + k * interval '4 minutes' AS o) t
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--visits", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument(
        "--days", type=int, default=0, help="daily partitions of analytics.events before the hour (retention)"
    )
    ap.add_argument("--code", type=Path, default=ROOT, help="the checkout whose enrichment is measured")
    opts = ap.parse_args()
    code = opts.code.resolve()
    sys.path[:0] = [str(code / "include"), str(code)]
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from analytics.db import connect, drop_database, ensure_database
    from analytics.enrich.job import enrich_interval
    from analytics.load.partitions import ensure_partitions
    from analytics.migrate import migrate

    base = os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/analytics"
    dsn = make_conninfo(**{**conninfo_to_dict(base), "dbname": f"analytics_derived_{uuid.uuid4().hex[:6]}"})
    ensure_database(dsn)
    try:
        migrate(dsn)
        # The server copy a day later, so the two never share an hour.
        hours = {"browser": HOUR, "server": HOUR + timedelta(days=1)}
        with connect(dsn, autocommit=True) as conn:
            # Every lookup of an actor's events probes each partition (they are by received_at): as many as kept.
            ensure_partitions(conn, (HOUR - timedelta(days=opts.days)).date(), opts.days + 2)
            for kind, hour in hours.items():
                conn.execute(GENERATE, {"kind": kind, "visits": opts.visits, "hour": hour})
            conn.execute("VACUUM ANALYZE analytics.events")
        for hour in hours.values():  # the hour before: enriched once, untimed
            enrich_interval(dsn, hour - timedelta(hours=1), hour)
        events = {}
        with connect(dsn) as conn:
            for kind, hour in hours.items():
                events[kind] = conn.execute(
                    "SELECT count(*) FROM analytics.events WHERE received_at >= %s AND received_at < %s",
                    (hour, hour + timedelta(hours=1)),
                ).fetchone()[0]

        def reset(kind: str) -> None:
            hour = hours[kind]
            with connect(dsn, autocommit=True) as conn:
                conn.execute(
                    "DELETE FROM analytics.event_context WHERE received_at >= %s AND received_at < %s",
                    (hour, hour + timedelta(hours=1)),
                )
                # The hour's sessions (derived ones are recomputed whole, so all of the copy's go).
                conn.execute("DELETE FROM analytics.sessions WHERE actor_id LIKE %s", (f"{kind}-%",))
                conn.execute("VACUUM ANALYZE analytics.event_context, analytics.sessions")

        spent: dict[str, list[float]] = {"browser": [], "server": []}
        print(f"events in the hour: browser {events['browser']:,}, server {events['server']:,}; code {code}")
        for rnd in range(opts.rounds):
            kinds = ["browser", "server"] if rnd % 2 == 0 else ["server", "browser"]
            for kind in kinds:
                reset(kind)
                t0 = time.perf_counter()
                stats = enrich_interval(dsn, hours[kind], hours[kind] + timedelta(hours=1))
                spent[kind].append((time.perf_counter() - t0) * 1000)
                if kind == "browser":
                    derived, phases = stats.sessions_derived, stats.phases_ms
            print(
                f"round {rnd}: browser {spent['browser'][-1]:7.0f} ms ({derived:,} sessions derived)  "
                f"server {spent['server'][-1]:7.0f} ms  browser ÷ server {spent['browser'][-1] / spent['server'][-1]:.2f}",
                flush=True,
            )
            print(f"         browser phases (ms): {phases}")
        ratios = [b / s for b, s in zip(spent["browser"], spent["server"], strict=True)]
        print(
            f"median: browser {statistics.median(spent['browser']):.0f} ms, server {statistics.median(spent['server']):.0f}"
            f" ms, browser ÷ server {statistics.median(ratios):.2f} (rounds {min(ratios):.2f}-{max(ratios):.2f})"
        )
    finally:
        drop_database(dsn)


if __name__ == "__main__":
    main()
