"""The monitor's reads that were rewritten so their cost follows the monitored window, not the tables' size
(bench/monitor_bench.py): the loader's watermark and the enrichment backlog give what they gave before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from analytics.collect.keys import Keys
from analytics.load.watermark import loader_watermark
from analytics.monitor.checks import Report, check_enrich
from analytics.sql import load_sql

T = datetime(2031, 3, 1, 12, tzinfo=UTC)  # a day no other test stores events in


def _run(db, stream: str | None, watermark: datetime | None) -> None:
    db.execute(
        "INSERT INTO analytics.load_runs (run_id, stream, started_at, finished_at, watermark)"
        " VALUES ('bounded', %s, now(), now(), %s)",
        (stream, watermark),
    )


def test_watermark_is_each_streams_highest_and_pre_0015_runs_are_the_unsharded_streams(db, settings):
    sharded = settings.with_overrides(stream_shards=2)
    shard0, shard1, legacy = (k.stream for k in Keys.from_settings(sharded).loaded_keys)
    assert legacy == settings.stream_key
    with db.transaction(force_rollback=True):
        db.execute("DELETE FROM analytics.load_runs")
        assert loader_watermark(db, settings) is None
        _run(db, legacy, T)
        _run(db, legacy, T + timedelta(minutes=5))
        _run(db, legacy, None)  # a run that set no watermark
        _run(db, "some:other:stream", T + timedelta(days=1))  # not loaded: not counted
        assert loader_watermark(db, settings) == T + timedelta(minutes=5)
        _run(db, None, T + timedelta(hours=1))  # before 0015: the unsharded stream's
        assert loader_watermark(db, settings) == T + timedelta(hours=1)

        _run(db, shard0, T + timedelta(hours=2))
        assert loader_watermark(db, sharded) is None  # shard 1 never loaded
        _run(db, shard1, T + timedelta(hours=3))
        assert loader_watermark(db, sharded) == T + timedelta(hours=1)  # the legacy stream's, the lowest
        _run(db, legacy, T + timedelta(hours=4))
        assert loader_watermark(db, sharded) == T + timedelta(hours=2)


def test_enrich_backlog_counts_the_windows_events_without_their_row(db, settings):
    since = T - timedelta(hours=24)  # check_enrich's look-back from the watermark
    events = {
        "at the window's start, enriched": (since, True),
        "at the window's start": (since + timedelta(microseconds=1), False),
        "overdue": (T - timedelta(hours=3), False),
        "within the grace": (T - timedelta(minutes=30), False),
        "last before the watermark, enriched": (T - timedelta(microseconds=1), True),
        "before the window": (since - timedelta(microseconds=1), False),
        "at the watermark": (T, False),
    }
    with db.transaction(force_rollback=True):
        db.execute("DELETE FROM analytics.load_runs")
        _run(db, settings.stream_key, T)
        for n, (at, enriched) in enumerate(events.values()):
            event_id = db.execute(
                "INSERT INTO analytics.events (id, event_type, source, occurred_at, received_at, fingerprint)"
                " VALUES (gen_random_uuid(), 'page_viewed', 'web', %s, %s, %s) RETURNING id",
                (at, at, f"fp-bounded-{n}"),
            ).fetchone()[0]
            if enriched:
                db.execute(
                    "INSERT INTO analytics.event_context (event_id, received_at) VALUES (%s, %s)", (event_id, at)
                )

        report = Report()
        check_enrich(report, db, settings, T + timedelta(minutes=1))
        figures = report.figures["enrich"]
        assert (figures["waiting"], figures["overdue"]) == (3, 2)  # overdue: before T - 2 h (the grace)
        assert figures["oldest"] == since + timedelta(microseconds=1)

        per_hour = dict(db.execute(load_sql("dashboard/select_enrichment_backlog"), {"since": since, "until": T}))
        assert per_hour == {since: 1, T - timedelta(hours=3): 1, T - timedelta(hours=1): 1}
