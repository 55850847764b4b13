"""Nightly dedup throughput: set-based SQL vs a per-row Python baseline, on the same generated day.

    .venv/bin/python bench/dedup_bench.py [--rows 500000] [--dup-share 0.05]

Creates a throwaway database (dropped afterwards), generates two identical days of events with
`--dup-share` near-repeats (0-1.5 s later, same critical fields), then times: the SQL job on day 1,
its re-run (marks nothing), and on day 2 the baseline: fetch the rows ordered, apply the same rule
in Python, update the duplicates row by row (executemany).
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from datetime import UTC, datetime, timedelta

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from analytics.db import connect, drop_database, ensure_database
from analytics.dedup.job import deduplicate, rule_name
from analytics.migrate import migrate

GENERATE = """
INSERT INTO analytics.events (id, event_type, source, occurred_at, received_at, actor_id, session_id, entity_id,
                              entity_type, fingerprint, props_json)
SELECT gen_random_uuid(), t, 'web', o, o + interval '50 ms', a, s, e, 'asset', 'fp', '{}'::jsonb
FROM (
    SELECT (ARRAY['asset_viewed','asset_downloaded','page_viewed','search_performed'])[1 + i %% 4] AS t,
           'usr_' || lpad((1 + i %% 50)::text, 3, '0') AS a,
           's' || (i %% 20000) AS s,
           'ast_' || lpad((1 + i %% 100)::text, 3, '0') AS e,
           %(day)s::timestamptz + (i * %(step)s::double precision) * interval '1 second' AS o
    FROM generate_series(1, %(rows)s) AS i
) base
"""
REPEAT = """
INSERT INTO analytics.events (id, event_type, source, occurred_at, received_at, actor_id, session_id, entity_id,
                              entity_type, fingerprint, props_json)
SELECT gen_random_uuid(), event_type, source, occurred_at + d, received_at + d, actor_id, session_id, entity_id,
       entity_type, fingerprint, '{}'::jsonb
FROM (SELECT *, (random() * 1.5) * interval '1 second' AS d FROM analytics.events
      WHERE received_at >= %(day)s AND received_at < %(day)s::timestamptz + interval '1 day') x
WHERE random() < %(share)s
"""


def python_baseline(dsn: str, start: datetime, end: datetime, window: timedelta) -> tuple[int, int]:
    """The loop the SQL replaces: same rule, one UPDATE per duplicate."""
    with connect(dsn) as conn:
        rows = conn.execute(
            """SELECT id, received_at, event_type, actor_id, session_id, entity_id, occurred_at
               FROM analytics.events WHERE received_at >= %s AND received_at < %s
                 AND (actor_id IS NOT NULL OR session_id IS NOT NULL)
               ORDER BY event_type, actor_id, session_id, entity_id, occurred_at, id""",
            (start, end),
        ).fetchall()
        dups = []
        key = anchor_id = anchor_at = None
        for eid, received_at, *k, occurred_at in rows:
            k = tuple(k)
            if k == key and occurred_at - anchor_at <= window:
                dups.append((str(anchor_id), eid, received_at))
            else:
                key, anchor_id, anchor_at = k, eid, occurred_at
        with conn.cursor() as cur:
            cur.executemany(
                """UPDATE analytics.events SET props_json = props_json || jsonb_build_object('_duplicate',
                       jsonb_build_object('of', %s::text, 'rule', 'baseline'))
                   WHERE id = %s AND received_at = %s""",
                dups,
            )
    return len(rows), len(dups)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=500_000, help="base events per day (before repeats)")
    parser.add_argument("--dup-share", type=float, default=0.05)
    args = parser.parse_args()

    base = os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/analytics"
    params = conninfo_to_dict(base) | {"dbname": f"analytics_bench_dedup_{uuid.uuid4().hex[:6]}"}
    dsn = make_conninfo(**params)
    ensure_database(dsn)
    try:
        migrate(dsn)
        day1 = datetime(2030, 6, 1, tzinfo=UTC)
        day2 = day1 + timedelta(days=1)
        with connect(dsn, autocommit=True) as conn:
            conn.execute("SELECT analytics.ensure_event_partitions(%s::date, 2)", (day1.date(),))
            for day in (day1, day2):
                conn.execute("SELECT setseed(0.42)")
                conn.execute(GENERATE, {"day": day, "rows": args.rows, "step": 86_000 / args.rows})
                conn.execute(REPEAT, {"day": day, "share": args.dup_share})
            conn.execute("VACUUM ANALYZE analytics.events")

        t = time.perf_counter()
        first = deduplicate(dsn, day1, day2)
        sql_s = time.perf_counter() - t
        t = time.perf_counter()
        again = deduplicate(dsn, day1, day2)
        rerun_s = time.perf_counter() - t
        t = time.perf_counter()
        scanned_py, marked_py = python_baseline(dsn, day2, day2 + timedelta(days=1), timedelta(seconds=1))
        py_s = time.perf_counter() - t

        print(f"load average (1/5/15 min): {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")
        print(f"rows scanned per day: {first.scanned:,}  (rule {rule_name(1000)})")
        print(f"set-based SQL : {sql_s:6.2f} s  {first.scanned / sql_s:>10,.0f} rows/s  marked {first.marked:,}")
        print(f"re-run        : {rerun_s:6.2f} s  {again.scanned / rerun_s:>10,.0f} rows/s  marked {again.marked}")
        print(f"Python loop   : {py_s:6.2f} s  {scanned_py / py_s:>10,.0f} rows/s  marked {marked_py:,}")
        print(f"steps first run: {first.steps_ms}, commit+record {first.duration_ms - sum(first.steps_ms.values())} ms")
        print(f"speed-up SQL vs Python loop: {py_s / sql_s:.1f}x")
    finally:
        drop_database(dsn)


if __name__ == "__main__":
    main()
