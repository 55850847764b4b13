"""Migrations apply to an empty database, and applying them again changes nothing."""

from __future__ import annotations

import uuid

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from analytics.db import connect, drop_database, ensure_database
from analytics.migrate import migrate, migration_files

TABLES = {"events", "event_context", "sessions", "rejected_events", "alerts", "idempotency_keys", "load_runs"}
VIEWS = {"attribution"}


def test_apply_to_empty_database_twice(database_url):
    params = conninfo_to_dict(database_url)
    params["dbname"] = f"{params['dbname']}_m{uuid.uuid4().hex[:4]}"
    url = make_conninfo(**params)
    ensure_database(url)
    try:
        first = migrate(url)
        assert first == [p.name for p in migration_files()]
        assert migrate(url) == []
        with connect(url) as conn:
            tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'analytics'")}
            assert TABLES <= tables
            views = {r[0] for r in conn.execute("SELECT viewname FROM pg_views WHERE schemaname = 'analytics'")}
            assert VIEWS <= views
            for host in ("users", "projects", "assets", "licenses", "payouts"):
                assert conn.execute(f"SELECT to_regclass('app.{host}')").fetchone()[0] is not None
    finally:
        drop_database(url)


def test_events_partitioned_by_day_with_default(db):
    kind = db.execute("SELECT relkind FROM pg_class WHERE oid = 'analytics.events'::regclass").fetchone()[0]
    assert kind == "p"
    parts = [
        r[0]
        for r in db.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'analytics.events'::regclass"
        )
    ]
    assert "events_default" in parts
    assert any(p.startswith("events_2") for p in parts)


def test_event_far_in_the_past_lands_in_default_partition(db):
    eid = uuid.uuid4()
    db.execute(
        "INSERT INTO analytics.events (id, event_type, source, occurred_at, received_at, fingerprint) "
        "VALUES (%s, 'page_viewed', 'test', '2001-01-01Z', '2001-01-01Z', 'fp')",
        (eid,),
    )
    try:
        where = db.execute("SELECT tableoid::regclass::text FROM analytics.events WHERE id = %s", (eid,))
        assert where.fetchone()[0] == "analytics.events_default"
    finally:
        db.execute("DELETE FROM analytics.events WHERE id = %s", (eid,))
