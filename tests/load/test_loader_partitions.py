"""Daily partitions: created ahead, an event without its day's partition still loads, retention drops old ones."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from analytics.load.partitions import drop_expired_partitions, ensure_partitions, expire_derived, list_partitions
from tests.load.test_loader import add, load, make_record, stored


def test_partitions_are_created_ahead(db):
    today = datetime.now(UTC).date()
    ensure_partitions(db, today, 7)
    names = set(list_partitions(db))
    for offset in range(-1, 8):
        assert f"events_{today + timedelta(days=offset):%Y%m%d}" in names


def test_an_event_without_a_partition_lands_in_default_then_moves_and_expires(settings, redis_client, db):
    # received_at is the collector's clock; a far-past one stands in for "a day nobody created".
    day = date(2019, 6, 1)
    rec = make_record(1, received_at=datetime(2019, 6, 1, 12, tzinfo=UTC))
    add(redis_client, settings, [rec])
    stats = load(settings, redis_client)
    assert (stats.inserted, stats.rejected) == (1, 0)
    where = "SELECT tableoid::regclass::text FROM analytics.events WHERE id = %s"
    assert db.execute(where, (rec["id"],)).fetchone()[0] == "analytics.events_default"

    ensure_partitions(db, day + timedelta(days=1), 0)  # creates 2019-06-01 and 06-02, moving the row over
    assert db.execute(where, (rec["id"],)).fetchone()[0] == "analytics.events_20190601"

    assert drop_expired_partitions(db, day + timedelta(days=30), 0) == []  # retention 0 = keep forever
    dropped = drop_expired_partitions(db, day + timedelta(days=30), 29)  # cutoff 2019-06-02
    assert dropped == ["events_20190601"]
    assert "events_20190602" in list_partitions(db)
    assert stored(db, [rec["id"]]) == []
    drop_expired_partitions(db, day + timedelta(days=31), 29)
    assert "events_20190602" not in list_partitions(db)


def test_retention_also_removes_what_enrichment_derived_from_dropped_events(db):
    """event_context rows received before the cutoff go; sessions go once no enrichment run touched them since."""
    old, kept = datetime(2019, 5, 31, 23, 59, tzinfo=UTC), datetime(2019, 6, 2, 0, 0, tzinfo=UTC)
    ids = {"old": "00000000-0000-7000-8000-00000000e001", "kept": "00000000-0000-7000-8000-00000000e002"}
    for name, at in (("old", old), ("kept", kept)):
        db.execute(
            "INSERT INTO analytics.event_context (event_id, received_at, session_id) VALUES (%s, %s, %s)",
            (ids[name], at, f"retention-{name}"),
        )
        db.execute(
            "INSERT INTO analytics.sessions (session_id, started_at, last_event_at, event_count, updated_at)"
            " VALUES (%s, %s, %s, 1, %s)",
            (f"retention-{name}", at, at, at),
        )
    try:
        assert expire_derived(db, date(2019, 7, 1), 0) == {}  # retention 0 = keep forever
        # Retention 29 days on 2019-07-01: cutoff 2019-06-02 00:00 UTC, as for the partitions.
        assert expire_derived(db, date(2019, 7, 1), 29) == {"event_context": 1, "sessions": 1}
        contexts = db.execute(
            "SELECT event_id::text FROM analytics.event_context WHERE event_id = ANY(%s::uuid[])", (list(ids.values()),)
        ).fetchall()
        assert contexts == [(ids["kept"],)]
        sessions = db.execute(
            "SELECT session_id FROM analytics.sessions WHERE session_id LIKE 'retention-%'"
        ).fetchall()
        assert sessions == [("retention-kept",)]
    finally:
        db.execute("DELETE FROM analytics.event_context WHERE event_id = ANY(%s::uuid[])", (list(ids.values()),))
        db.execute("DELETE FROM analytics.sessions WHERE session_id LIKE 'retention-%'")
        db.commit()


def test_the_maintenance_task_expires_derived_rows_once_per_dropped_day(settings, db, monkeypatch):
    """maintain_partitions (events_load, every minute) runs the derived deletes only when it dropped a day."""
    from analytics.load.tasks import maintain_partitions

    ensure_partitions(db, date(2019, 6, 1), 0)  # 2019-05-31 .. 2019-06-02
    db.commit()
    old = datetime(2019, 5, 31, 12, tzinfo=UTC)
    db.execute(
        "INSERT INTO analytics.event_context (event_id, received_at) VALUES ('00000000-0000-7000-8000-00000000e003', %s)",
        (old,),
    )
    db.commit()
    monkeypatch.setenv("ANALYTICS_RETENTION_DAYS", "29")
    try:
        first = maintain_partitions(today=date(2019, 7, 1))  # cutoff 2019-06-02
        assert "events_20190531" in first["dropped"]
        assert first["expired"]["event_context"] == 1
        again = maintain_partitions(today=date(2019, 7, 1))
        assert (again["dropped"], again["expired"]) == ([], {})
    finally:
        db.execute("DELETE FROM analytics.event_context WHERE event_id = '00000000-0000-7000-8000-00000000e003'")
        drop_expired_partitions(db, date(2019, 7, 10), 1)  # the 2019 partitions this test made
        db.commit()
