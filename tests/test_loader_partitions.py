"""Daily partitions: created ahead, an event without its day's partition still loads, retention drops old ones."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from analytics.partitions import drop_expired_partitions, ensure_partitions, list_partitions
from tests.test_loader import add, load, make_record, stored


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
