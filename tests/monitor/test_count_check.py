"""Accepted against stored: an hour whose accepted events the database does not all account for pages on-call
(monitor.events_missing), naming the hour and how many are missing. Accounted for: rows of analytics.events, events
the loader dropped for an idempotency key an earlier event holds, entries it set aside. The collector counts each
event in the minute of its received_at, so an event received at 59:59.999999 belongs to the hour it is stored in.

Each test has a database of its own: analytics.events of the session's database holds every other test's rows."""

from __future__ import annotations

import socket
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from analytics.collect.copyrow import COLUMNS
from analytics.collect.keys import Keys
from analytics.config import Settings
from analytics.db import connect, drop_database, ensure_database
from analytics.load.job import run_load
from analytics.load.tasks import loader_config
from analytics.migrate import migrate
from analytics.monitor.job import monitor
from tests.monitor.test_monitor import _hooks

KIND = "monitor.events_missing"
HOUR = timedelta(hours=1)


@pytest.fixture
def own_db(settings, http_receiver, monkeypatch):  # noqa: F811
    """Settings on a database of the test's own, migrated (no seed: the events need no references)."""
    base, posts = http_receiver
    url = make_conninfo(
        **{**conninfo_to_dict(settings.database_url), "dbname": f"analytics_count_{uuid.uuid4().hex[:8]}"}
    )
    ensure_database(url)
    try:
        migrate(url)
        monkeypatch.setenv("DATABASE_URL", url)
        monkeypatch.setenv("ALERT_WEBHOOK_URL", f"{base}/hook")
        with connect(url, autocommit=True) as conn:
            yield Settings.from_env(), conn, posts
    finally:
        drop_database(url)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _counting_since(conn, when: datetime) -> None:
    """As if migration 0017 (the collector counting by received_at) had been applied at `when`."""
    conn.execute(
        "UPDATE public.schema_migrations SET applied_at = %s WHERE name = '0017_count_reconciliation.sql'", (when,)
    )


def _events(start: int, n: int, **extra) -> list[dict]:
    return [
        {"eventType": "cta_clicked", "source": "web", "sessionId": f"s-count-{i}", "props": {"ctaId": f"c{i}"}, **extra}
        for i in range(start, start + n)
    ]


def _accept(ingestor, events: list[dict], received_at: datetime) -> None:
    assert [r.status for r in ingestor.ingest(events, received_at)] == ["accepted"] * len(events)


def _fill(s: Settings, conn, redis_client, h0: datetime) -> None:
    """13 events accepted in hour h0, one of them dropped by the loader for its key; 8 in h0 + 1 h, one set aside by
    the loader; then 2 of h0 + 1 h's rows deleted (a loader that acknowledged what it did not store)."""
    from ingest_api import create_app

    ingestor = create_app(s).extensions["analytics.ingestor"]
    keys = Keys.from_settings(s)
    _accept(ingestor, _events(0, 10) + _events(100, 1, idempotencyKey="k-count"), h0 + timedelta(minutes=10))
    _accept(ingestor, _events(200, 1), h0 + HOUR - timedelta(microseconds=1))  # counted in h0, as it is stored
    redis_client.delete(keys.idempotency("web", "k-count"))  # the collector's key check lasts an hour
    _accept(ingestor, _events(101, 1, idempotencyKey="k-count"), h0 + timedelta(minutes=30))
    _accept(ingestor, _events(300, 8), h0 + HOUR + timedelta(minutes=5))
    # The last entry becomes one PostgreSQL refuses: the loader sets it aside in analytics.rejected_events.
    sid, fields = redis_client.xrevrange(s.stream_key, count=1)[0]
    line = fields[b"r"].split(b"\t")
    line[COLUMNS.index("id")] = b"not-a-uuid"
    redis_client.xdel(s.stream_key, sid)
    redis_client.xadd(s.stream_key, {b"id": fields[b"id"], b"r": b"\t".join(line)})
    stats = run_load(s.database_url, redis_client, loader_config(s))
    assert (stats.inserted, stats.already_present, stats.rejected) == (19, 1, 1)
    conn.execute(
        "DELETE FROM analytics.events WHERE id IN (SELECT id FROM analytics.events "
        "WHERE received_at >= %s AND received_at < %s LIMIT 2)",
        (h0 + HOUR, h0 + 2 * HOUR),
    )
    # An hour with a row the collector never counted (written around it): more stored than counted never pages.
    conn.execute(
        "INSERT INTO analytics.events (id, event_type, source, occurred_at, received_at) "
        "VALUES (gen_random_uuid(), 'cta_clicked', 'web', %s, %s)",
        (h0 - timedelta(minutes=30), h0 - timedelta(minutes=30)),
    )


def _checks(conn) -> dict[datetime, tuple]:
    rows = conn.execute("SELECT hour, accepted, stored, dropped, set_aside, missing FROM analytics.count_checks")
    return {r[0]: tuple(r[1:]) for r in rows}


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata"])  # a session zone whose whole hours are not UTC's
def test_accepted_events_missing_from_the_table_page_with_their_hour(own_db, redis_client, monkeypatch, zone):
    monkeypatch.setenv("PGTZ", zone)  # the monitor's connection
    s, conn, posts = own_db
    now = datetime.now(UTC)
    h0 = now.replace(minute=0, second=0, microsecond=0) - 5 * HOUR
    _counting_since(conn, now - 30 * HOUR)
    _fill(s, conn, redis_client, h0)

    first = monitor(s.database_url, redis_client, s, now)
    checks = _checks(conn)
    assert checks[h0] == (13, 12, 1, 0, 0)  # every accepted event accounted for
    assert checks[h0 + HOUR] == (8, 5, 0, 1, 2)
    assert checks[h0 - HOUR] == (0, 1, 0, 0, -1)
    assert first["figures"]["counts"]["missing"] == 2 and first["figures"]["counts"]["hoursMissing"] == 1
    assert f"{KIND}" in first["alerts"]["fired"]
    (page,) = _hooks(posts, KIND)
    assert "2 accepted events are not in analytics.events (1 hour)" in page["title"]
    assert f"{h0 + HOUR:%Y-%m-%d %H}:00 UTC: 8 accepted, 5 stored" in page["message"]
    assert "2 missing" in page["message"]

    # Compared hours are not counted again at every pass; one that does not add up is, hourly, and still pages.
    second = monitor(s.database_url, redis_client, s, now + timedelta(minutes=5))
    assert second["figures"]["counts"]["hoursChecked"] == 0
    assert KIND in second["alerts"]["suppressed"]
    # A pass whose count check cannot run (its Redis gone) says so and leaves the page firing, not resolved.
    dead = redis.Redis(host="127.0.0.1", port=_free_port(), socket_connect_timeout=0.5)
    blind = monitor(s.database_url, dead, s, now + timedelta(minutes=65))
    assert "monitor.check_failed.counts" in blind["alerts"]["fired"]
    assert KIND not in blind["alerts"]["resolved"]
    # Nor does a pass that cannot tell how far the loader got (a stream never loaded yet: here a shard added).
    unsure = monitor(s.database_url, redis_client, s.with_overrides(stream_shards=2), now + timedelta(minutes=65))
    assert unsure["figures"]["counts"] is None
    assert KIND not in unsure["alerts"]["resolved"]
    third = monitor(s.database_url, redis_client, s, now + timedelta(minutes=65))
    assert third["figures"]["counts"]["hoursChecked"] == 2  # h0 + 1 h, and the hour with the uncounted row
    assert third["figures"]["counts"]["missing"] == 2


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata"])
def test_hours_before_the_collector_counted_by_received_at_are_not_compared(own_db, redis_client, monkeypatch, zone):
    monkeypatch.setenv("PGTZ", zone)
    s, conn, posts = own_db
    now = datetime.now(UTC)
    _counting_since(conn, now - 3 * HOUR)  # h0 + 1 h (4 h ago) is before the first whole hour after that
    _fill(s, conn, redis_client, now.replace(minute=0, second=0, microsecond=0) - 5 * HOUR)
    result = monitor(s.database_url, redis_client, s, now)
    assert result["figures"]["counts"]["missing"] == 0
    assert min(_checks(conn)) >= (now - 3 * HOUR).replace(minute=0, second=0, microsecond=0) + HOUR
    assert {h.astimezone(UTC).minute for h in _checks(conn)} == {0}  # whole UTC hours, whatever the session zone
    assert not _hooks(posts, KIND)
