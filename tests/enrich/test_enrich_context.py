"""analytics.attribution as a view over analytics.event_context: the migration that converts the old table's
rows, and the plans the backlog checks get through the view."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

import analytics.migrate as migrate_module
from analytics.db import connect, drop_database, ensure_database
from analytics.enrich.job import enrich_interval
from analytics.enrich.useragent import parser_id
from analytics.seed import seed
from analytics.sql import load_sql

HOUR = datetime(2024, 3, 1, 10, tzinfo=UTC)
CACHED_UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) cached-before"
UNCACHED_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) Mobile/15E148 never-cached"
OLD_COLUMNS = (
    "event_id, received_at, browser_name, browser_version, os_name, os_version, device_type, device_brand, "
    "device_model, is_bot, session_started_at, session_duration_ms, referrer, landing_page, utm_source, "
    "utm_medium, utm_campaign, utm_term, utm_content, entity_snapshot, enriched_at, session_id"
)


@pytest.fixture
def old_database(database_url, monkeypatch):
    """A fresh database migrated up to, not including, 0009 (attribution still a wide table)."""
    params = conninfo_to_dict(database_url)
    params["dbname"] = f"{params['dbname']}_c{uuid.uuid4().hex[:4]}"
    url = make_conninfo(**params)
    ensure_database(url)
    every = migrate_module.migration_files()
    monkeypatch.setattr(migrate_module, "migration_files", lambda: [p for p in every if p.name < "0009"])
    migrate_module.migrate(url)
    monkeypatch.setattr(migrate_module, "migration_files", lambda: every)
    seed(url)
    try:
        yield url
    finally:
        drop_database(url)


def _event(conn, event_id, at, *, session_id=None, user_agent=None, entity=(None, None), occurred_at=None):
    conn.execute(
        "INSERT INTO analytics.events (id, event_type, source, occurred_at, received_at, fingerprint, session_id, "
        "user_agent, entity_type, entity_id) VALUES (%s, 'asset_viewed', 'web', %s, %s, 'fp', %s, %s, %s, %s)",
        (event_id, occurred_at or at, at, session_id, user_agent, *entity),
    )


def _old_row(conn, event_id, at, **cols):
    cols = {"event_id": event_id, "received_at": at, "enriched_at": at + timedelta(hours=1), **cols}
    if "entity_snapshot" in cols:
        cols["entity_snapshot"] = json.dumps(cols["entity_snapshot"])
    conn.execute(
        f"INSERT INTO analytics.attribution ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})",
        list(cols.values()),
    )


def test_migration_keeps_every_existing_row_and_column(old_database):
    ids = [uuid.UUID(int=(1 << 120) + i) for i in range(6)]
    at = [HOUR + timedelta(minutes=5 * i) for i in range(6)]
    mac = dict(browser_name="Chrome", browser_version="120.0", os_name="macOS", os_version="10.15.7",
               device_type="desktop", device_brand="Apple", device_model="Mac", is_bot=False)  # fmt: skip
    phone = dict(browser_name="Safari", browser_version="17.1", os_name="iOS", os_version="17.1",
                 device_type="mobile", device_brand="Apple", device_model="iPhone", is_bot=False)  # fmt: skip
    session = dict(session_id="sess-mig", session_started_at=at[0], session_duration_ms=300_000,
                   referrer="https://ref.example/", landing_page="/start", utm_source="mail", utm_campaign="c1")  # fmt: skip
    lost = dict(session_id="sess-lost", session_started_at=at[3] - timedelta(minutes=1), session_duration_ms=60_000,
                landing_page="/lost", utm_medium="cpc")  # fmt: skip
    with connect(old_database, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO analytics.user_agents (ua_md5, ua, parser, browser_name, browser_version, os_name, "
            "os_version, device_type, device_brand, device_model, is_bot) "
            "VALUES (md5(%s)::uuid, %s, 'some parser', 'Chrome', '120.0', 'macOS', '10.15.7', 'desktop', 'Apple', "
            "'Mac', false)",
            (CACHED_UA, CACHED_UA),
        )
        conn.execute(
            "INSERT INTO analytics.sessions (session_id, started_at, last_event_at, event_count, referrer, "
            "landing_page, utm_source, utm_campaign) VALUES ('sess-mig', %s, %s, 2, 'https://ref.example/', "
            "'/start', 'mail', 'c1')",
            (at[0], at[0] + timedelta(minutes=5)),
        )
        # Three versions of an asset; the event saw the middle one.
        conn.execute("UPDATE app.assets SET title = 'middle' WHERE id = 'ast_001'")
        middle_from = conn.execute(
            "SELECT valid_from, data FROM analytics.entity_versions WHERE entity_id = 'ast_001' AND valid_to IS NULL"
        ).fetchone()
        conn.execute("UPDATE app.assets SET title = 'latest' WHERE id = 'ast_001'")

        _event(conn, ids[0], at[0], session_id="sess-mig", user_agent=CACHED_UA)
        _old_row(conn, ids[0], at[0], **mac, **session)
        _event(conn, ids[1], at[1], session_id="sess-mig", user_agent=UNCACHED_UA, entity=("asset", "ast_001"),
               occurred_at=middle_from[0] + timedelta(microseconds=1))  # fmt: skip
        _old_row(conn, ids[1], at[1], **phone, **session, entity_snapshot=middle_from[1])
        _event(conn, ids[2], at[2], user_agent="")  # no session: its own first touch
        _old_row(conn, ids[2], at[2], referrer="https://own.example/", landing_page="/own", utm_term="t")
        _event(conn, ids[3], at[3], session_id="sess-lost", user_agent=CACHED_UA)  # its session row is gone
        _old_row(conn, ids[3], at[3], **mac, **lost)
        _old_row(conn, ids[4], at[4], **lost)  # its event is gone (partition dropped), no UA or snapshot
        # A session the sessions table lost, known only from a row without a duration.
        _old_row(conn, ids[5], at[5], session_id="sess-no-duration", session_started_at=at[5], landing_page="/n")
        before = conn.execute(f"SELECT {OLD_COLUMNS} FROM analytics.attribution ORDER BY event_id")
        names = [c.name for c in before.description]
        before = before.fetchall()

    # 0009 and whatever later migrations exist, in order (the test must not break with each new migration).
    later = [p.name for p in migrate_module.migration_files() if p.name >= "0009"]
    assert later[0] == "0009_event_context.sql"
    assert migrate_module.migrate(old_database) == later

    with connect(old_database, autocommit=True) as conn:
        after = conn.execute("SELECT * FROM analytics.attribution ORDER BY event_id")
        assert [c.name for c in after.description] == names
        after = after.fetchall()
        assert after[:5] == before[:5]
        # The one difference: a session rebuilt from a row without a duration starts and ends at its start.
        duration = names.index("session_duration_ms")
        assert (before[5][duration], after[5][duration]) == (None, 0)
        assert after[5][:duration] + after[5][duration + 1 :] == before[5][:duration] + before[5][duration + 1 :]
        stored = conn.execute("SELECT count(*) FROM analytics.event_context").fetchone()[0]
        assert stored == 6
        migrated = conn.execute("SELECT parser FROM analytics.user_agents WHERE ua = %s", (UNCACHED_UA,)).fetchone()
        assert migrated == ("migrated from analytics.attribution",)

    # The first run over the hour parses both strings again (neither row is from its parser), one row per event.
    stats = enrich_interval(old_database, HOUR, HOUR + timedelta(hours=1))
    assert (stats.events, stats.user_agents_parsed) == (4, 2)
    with connect(old_database, autocommit=True) as conn:
        assert conn.execute("SELECT parser FROM analytics.user_agents WHERE ua = %s", (UNCACHED_UA,)).fetchone() == (
            parser_id(),
        )
        rows = conn.execute(
            "SELECT event_id, device_type, os_name, (entity_snapshot ->> 'title') FROM analytics.attribution "
            "ORDER BY event_id"
        ).fetchall()
        assert [r[0] for r in rows] == ids[:4]  # a re-run drops the row whose event is gone, as before
        assert rows[1][1:] == ("mobile", "iOS", "middle")


def test_the_view_is_read_only_and_has_one_row_per_context_row(db):
    with pytest.raises(Exception, match="(?i)cannot insert into view|not automatically updatable"):
        db.execute("INSERT INTO analytics.attribution (event_id, received_at) VALUES (gen_random_uuid(), now())")
    counts = db.execute(
        "SELECT (SELECT count(*) FROM analytics.attribution), (SELECT count(*) FROM analytics.event_context)"
    ).fetchone()
    assert counts[0] == counts[1]


@pytest.mark.parametrize("sql_name", ["monitor/count_enrich_waiting", "dashboard/select_enrichment_backlog"])
def test_backlog_checks_through_the_view_touch_only_the_context_key(db, sql_name):
    """The view's joins are to unique keys and unused by NOT EXISTS, so the planner drops them."""
    since, until = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC)
    params = {"since": since, "until": until, "watermark": until, "overdue_before": until}
    plan = "\n".join(r[0] for r in db.execute("EXPLAIN " + load_sql(sql_name), params))
    assert "event_context" in plan
    for joined in ("user_agents", "sessions", "entity_versions"):
        assert joined not in plan, plan
