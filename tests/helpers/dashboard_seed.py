"""Known data for the dashboard tests: collector counters, a stream with pending entries, loads, runs, alerts."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from psycopg.types.json import Jsonb

from analytics.collect.keys import STATS_BUCKET_SECONDS, Keys, stat_field, stats_bucket
from analytics.monitor.dashboard import NIGHTLY_DEDUP_JOB

# (minutes ago, outcome, reason, source, event_type, count)
COUNTERS = [
    (0, "accepted", "", "web", "asset_viewed", 30),
    (0, "accepted", "", "ios", "page_viewed", 10),
    (0, "duplicate", "fingerprint", "web", "asset_viewed", 4),
    (0, "duplicate", "idempotency_key", "ios", "page_viewed", 1),
    (0, "rejected", "validation", "web", "asset_viewed", 3),
    (2, "accepted", "", "web", "asset_viewed", 20),
    (2, "duplicate", "fingerprint", "web", "asset_viewed", 5),
    (30, "accepted", "", "web", "asset_viewed", 10),
]


@dataclass
class Seeded:
    """What the dashboard must show for the seeded data."""

    accepted_last_hour: int = 70
    duplicates_last_hour: int = 10
    rejected_last_hour: int = 3
    monitor_rate: float = round(10 / 70, 6)  # last 15 min: 60 accepted + 10 duplicates checked
    stream_length: int = 7
    lag: int = 5
    pending: int = 2
    oldest_pending_min_age: float = 120.0
    last_load_inserted: int = 1234
    last_load_duration_ms: int = 850
    nightly_scanned: int = 48_000
    nightly_marked: int = 1_200
    backlog_hour: str = ""
    backlog_waiting: int = 0
    firing_alert_title: str = ""
    resolved_alert_log_url: str = ""
    counts_compared_up_to: datetime | None = None
    ids: dict[str, list] = field(default_factory=dict)


def seed_dashboard(db, redis_client, settings) -> Seeded:
    out = Seeded()
    now = datetime.now(UTC)
    keys = Keys(settings.key_prefix, settings.stream_key)
    current = stats_bucket(now.timestamp())
    pipe = redis_client.pipeline(transaction=False)
    for minutes_ago, outcome, reason, source, event_type, count in COUNTERS:
        bucket = keys.stats(current - minutes_ago * STATS_BUCKET_SECONDS)
        pipe.hincrby(bucket, stat_field(outcome, reason, source, event_type), count)
        pipe.expire(bucket, 3600 * 3)
    pipe.execute()

    old_ms = int(time.time() * 1000) - 120_000
    for seq in range(3):
        redis_client.xadd(settings.stream_key, {"id": f"old-{seq}"}, id=f"{old_ms}-{seq}")
    for seq in range(4):
        redis_client.xadd(settings.stream_key, {"id": f"new-{seq}"})
    redis_client.xgroup_create(settings.stream_key, settings.consumer_group, id="0")
    held = redis_client.xreadgroup(settings.consumer_group, "dash-test", {settings.stream_key: ">"}, count=2)
    # Unacknowledged for 2.5 min (XCLAIM ... IDLE sets the idle time the stuck-batch check measures).
    redis_client.xclaim(
        settings.stream_key, settings.consumer_group, "dash-test", 0, [i for i, _ in held[0][1]], idle=150_000
    )

    tag = uuid.uuid4().hex[:8]
    out.ids["load_runs"] = [
        db.execute(
            """INSERT INTO analytics.load_runs (run_id, started_at, finished_at, entries_read, inserted, rejected,
                                                lag_left, max_received_at, duration_ms, watermark)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
            (
                f"dash-{tag}-{i}",
                now - ago - timedelta(seconds=1),
                now - ago,
                read,
                ins,
                rej,
                0,
                now - ago,
                ms,
                now - ago,
            ),
        ).fetchone()[0]
        for i, (ago, read, ins, rej, ms) in enumerate(
            # Newest of all: finished at seed time (an earlier test's rows finished before it).
            [(timedelta(milliseconds=1), 500, 500, 0, 400), (timedelta(0), 1240, 1234, 6, 850)]
        )
    ]
    # An hour the monitor's count check found 3 accepted events short of (and one that added up, after it).
    hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    out.ids["count_checks"] = [hour, hour + timedelta(hours=1)]
    for h, stored in ((hour, 7), (hour + timedelta(hours=1), 10)):
        db.execute(
            """INSERT INTO analytics.count_checks (hour, accepted, stored, dropped, set_aside, missing, checked_at)
               VALUES (%s, 10, %s, 0, 0, %s, %s)
               ON CONFLICT (hour) DO UPDATE SET stored = excluded.stored, missing = excluded.missing""",
            (h, stored, 10 - stored, now),
        )
    out.counts_compared_up_to = hour + timedelta(hours=2)
    out.ids["job_runs"] = [
        db.execute(
            """INSERT INTO analytics.job_runs (job, run_id, interval_start, interval_end, started_at, finished_at, stats)
               VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id""",
            (
                NIGHTLY_DEDUP_JOB,
                f"dash-{tag}-nightly",
                now - timedelta(hours=26),
                now - timedelta(hours=2),
                now - timedelta(minutes=1),
                now,
                Jsonb(
                    {  # the shape analytics.dedup.job.DedupResult.as_dict() records
                        "scanned": out.nightly_scanned,
                        "candidates": 1_500,
                        "marked": out.nightly_marked,
                        "rule": "same-type-actor-session-entity-within-1000ms-of-kept",
                        "duration_ms": 310,
                        "rate": 0.025,
                        "window_rule": "the data interval's end (scheduled run)",
                    }
                ),
            ),
        ).fetchone()[0]
    ]
    out.firing_alert_title = f"Deduplication rate 14.3 % above 10 % ({tag})"
    out.resolved_alert_log_url = f"http://127.0.0.1:8080/dags/events_load/runs/r-{tag}/tasks/load_batch?try_number=3"
    out.ids["alerts"] = [
        db.execute(
            """INSERT INTO analytics.alerts (kind, alert_key, severity, state, title, message, dag_id, task_id,
                                             run_id, log_url, created_at, resolved_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
            row,
        ).fetchone()[0]
        for row in [
            ("task_failed", f"task:{tag}", "error", "resolved", "events_load.load_batch failed",
             "OperationalError: connection refused", "events_load", "load_batch", f"r-{tag}",
             out.resolved_alert_log_url, now - timedelta(milliseconds=1), now),
            ("monitor.dedup_rate", f"dedup:{tag}", "error", "firing", out.firing_alert_title,
             "web/asset_viewed: 9 of 59 checks were duplicates", "events_monitor", "check", f"m-{tag}",
             None, now, None),
        ]
    ]  # fmt: skip

    hour = (now - timedelta(hours=20)).replace(minute=0, second=0, microsecond=0)
    baseline = db.execute(
        """SELECT count(*) FROM analytics.events e WHERE e.received_at >= %s AND e.received_at < %s
           AND NOT EXISTS (SELECT 1 FROM analytics.attribution a WHERE a.event_id = e.id)""",
        (hour, hour + timedelta(hours=1)),
    ).fetchone()[0]
    events = [uuid.uuid4() for _ in range(4)]
    for n, event_id in enumerate(events):
        at = hour + timedelta(minutes=10 + n)
        db.execute(
            """INSERT INTO analytics.events (id, event_type, source, occurred_at, received_at, fingerprint)
               VALUES (%s, 'page_viewed', 'web', %s, %s, %s)""",
            (event_id, at, at, f"fp-{event_id}"),
        )
    db.execute(
        "INSERT INTO analytics.event_context (event_id, received_at) VALUES (%s, %s)",
        (events[0], hour + timedelta(minutes=10)),
    )
    out.ids["events"] = events
    out.backlog_hour = hour.isoformat().replace("+00:00", "Z")
    out.backlog_waiting = baseline + 3
    return out


def cleanup(db, seeded: Seeded) -> None:
    ids = seeded.ids
    db.execute("DELETE FROM analytics.event_context WHERE event_id = ANY(%s)", (ids.get("events", []),))
    db.execute("DELETE FROM analytics.events WHERE id = ANY(%s)", (ids.get("events", []),))
    db.execute("DELETE FROM analytics.load_runs WHERE id = ANY(%s)", (ids.get("load_runs", []),))
    db.execute("DELETE FROM analytics.job_runs WHERE id = ANY(%s)", (ids.get("job_runs", []),))
    db.execute("DELETE FROM analytics.alerts WHERE id = ANY(%s)", (ids.get("alerts", []),))
    db.execute("DELETE FROM analytics.count_checks WHERE hour = ANY(%s)", (ids.get("count_checks", []),))
