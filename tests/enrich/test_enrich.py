"""Enrichment of one interval against real PostgreSQL: user agent, sessions, snapshots, idempotency."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from analytics.enrich.job import enrich_interval

MAC_SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Safari/605.1.15"
)
MAC_CHROME = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1.2 Mobile/15E148 Safari/604.1"
)


@pytest.fixture
def hour() -> datetime:
    """A past hour no other test uses, so interval counts are exact."""
    return datetime(2025, 1, 1, tzinfo=UTC) + timedelta(
        hours=uuid.uuid4().int % 50_000
    )  # before 2031: test_dedup owns 2031-2039


def insert_event(db, *, received_at: datetime, occurred_at: datetime | None = None, **fields) -> str:
    event_id = str(uuid.uuid4())
    row = {
        "id": event_id,
        "event_type": fields.pop("event_type", "page_viewed"),
        "source": "web",
        "occurred_at": occurred_at or received_at,
        "received_at": received_at,
        "fingerprint": uuid.uuid4().hex,
        "props_json": json.dumps(fields.pop("props", {})),
        "attribution_json": json.dumps(fields.pop("attribution", {})),
        **fields,
    }
    cols = ", ".join(row)
    db.execute(f"INSERT INTO analytics.events ({cols}) VALUES ({', '.join(['%s'] * len(row))})", list(row.values()))
    return event_id


def attribution(db, event_id: str) -> dict:
    cur = db.execute("SELECT * FROM analytics.attribution WHERE event_id = %s", (event_id,))
    row = cur.fetchone()
    assert row is not None, f"no attribution row for {event_id}"
    return dict(zip([c.name for c in cur.description], row, strict=True))


def pick(row: dict, *keys: str) -> tuple:
    return tuple(row[k] for k in keys)


def test_macos_safari_and_chrome_are_desktop_macos(db, database_url, hour):
    """The original design's own check: attribution.deviceType desktop, attribution.os macOS."""
    safari = insert_event(db, received_at=hour + timedelta(minutes=1), user_agent=MAC_SAFARI)
    chrome = insert_event(db, received_at=hour + timedelta(minutes=2), user_agent=MAC_CHROME)
    phone = insert_event(db, received_at=hour + timedelta(minutes=3), user_agent=IPHONE)
    no_ua = insert_event(db, received_at=hour + timedelta(minutes=4))

    stats = enrich_interval(database_url, hour, hour + timedelta(hours=1))

    assert stats.events == 4 and stats.distinct_user_agents == 3
    s, c, p, n = (attribution(db, e) for e in (safari, chrome, phone, no_ua))
    assert pick(s, "device_type", "os_name", "browser_name", "browser_version") == (
        "desktop",
        "macOS",
        "Safari",
        "17.1",
    )
    assert pick(c, "device_type", "os_name", "browser_name", "os_version") == ("desktop", "macOS", "Chrome", "10.15.7")
    assert pick(p, "device_type", "os_name", "device_brand", "device_model") == ("mobile", "iOS", "Apple", "iPhone")
    assert s["is_bot"] is False
    assert n["device_type"] is None and n["browser_name"] is None


def test_session_context_and_a_late_event_that_moves_the_start(db, database_url, hour):
    sid = f"s-{uuid.uuid4().hex[:8]}"
    h1, h2 = hour, hour + timedelta(hours=1)
    first = insert_event(
        db,
        received_at=h1 + timedelta(minutes=5),
        session_id=sid,
        actor_id="usr_004",
        attribution={
            "referrer": "https://news.example/",
            "landingPage": "/pricing",
            "utmSource": "newsletter",
            "utmMedium": "email",
            "utmCampaign": "spring",
        },
    )
    insert_event(db, received_at=h1 + timedelta(minutes=20), session_id=sid, props={"path": "/a"})
    insert_event(db, received_at=h1 + timedelta(minutes=50), session_id=sid, attribution={"utmSource": "later-touch"})

    enrich_interval(database_url, h1, h2)

    row = attribution(db, first)
    assert row["session_started_at"] == h1 + timedelta(minutes=5)
    assert row["session_duration_ms"] == 45 * 60 * 1000
    assert (row["landing_page"], row["referrer"]) == ("/pricing", "https://news.example/")
    assert (row["utm_source"], row["utm_medium"], row["utm_campaign"]) == ("newsletter", "email", "spring")

    # Next hour: the session goes on, and an offline client delivers an event from before its start.
    later = insert_event(db, received_at=h2 + timedelta(minutes=10), session_id=sid)
    late = insert_event(
        db,
        received_at=h2 + timedelta(minutes=20),
        occurred_at=h1 + timedelta(minutes=2),
        session_id=sid,
        attribution={"landingPage": "/", "utmSource": "ads", "utmCampaign": "brand"},
    )
    first_context = db.execute("SELECT * FROM analytics.event_context WHERE event_id = %s", (first,)).fetchone()
    stats = enrich_interval(database_url, h2, h2 + timedelta(hours=1))

    session = db.execute(
        "SELECT started_at, last_event_at, event_count, landing_page, utm_source, utm_campaign, referrer "
        "FROM analytics.sessions WHERE session_id = %s",
        (sid,),
    ).fetchone()
    assert session == (h1 + timedelta(minutes=2), h2 + timedelta(minutes=10), 5, "/", "ads", "brand", None)
    expected_duration = int(((h2 + timedelta(minutes=10)) - (h1 + timedelta(minutes=2))).total_seconds() * 1000)
    for event_id in (first, later, late):  # the earlier hour's rows are corrected too
        row = attribution(db, event_id)
        assert row["session_started_at"] == h1 + timedelta(minutes=2), event_id
        assert row["session_duration_ms"] == expected_duration
        assert (row["landing_page"], row["utm_source"], row["utm_medium"]) == ("/", "ads", None)
    assert stats.sessions_touched == 1 and stats.sessions_new == 0
    # The earlier hour's stored row is not rewritten: its session columns come from analytics.sessions.
    assert db.execute("SELECT * FROM analytics.event_context WHERE event_id = %s", (first,)).fetchone() == first_context


def test_snapshot_is_the_entity_as_it_was_at_event_time(db, database_url, hour):
    asset = "ast_097"
    original = db.execute("SELECT title FROM app.assets WHERE id = %s", (asset,)).fetchone()[0]
    try:
        db.execute("UPDATE app.assets SET title = 'Draft cut' WHERE id = %s", (asset,))
        t1 = db.execute(
            "SELECT valid_from FROM analytics.entity_versions WHERE entity_id = %s AND valid_to IS NULL", (asset,)
        ).fetchone()[0]
        db.execute("UPDATE app.assets SET title = 'Final cut', status = 'approved' WHERE id = %s", (asset,))
        t2 = db.execute(
            "SELECT valid_from FROM analytics.entity_versions WHERE entity_id = %s AND valid_to IS NULL", (asset,)
        ).fetchone()[0]
        assert t2 > t1
        during_draft = insert_event(
            db,
            event_type="asset_viewed",
            received_at=hour + timedelta(minutes=1),
            occurred_at=t1 + (t2 - t1) / 2,
            entity_type="asset",
            entity_id=asset,
        )
        after_final = insert_event(
            db,
            event_type="asset_viewed",
            received_at=hour + timedelta(minutes=2),
            occurred_at=t2 + timedelta(microseconds=1),
            entity_type="asset",
            entity_id=asset,
        )
        lic = insert_event(
            db,
            event_type="license_viewed",
            received_at=hour + timedelta(minutes=3),
            entity_type="license",
            entity_id="lic_003",
        )
        # The asset changes again before enrichment runs: that must not leak into either event.
        db.execute("UPDATE app.assets SET title = 'Renamed after the fact' WHERE id = %s", (asset,))

        enrich_interval(database_url, hour, hour + timedelta(hours=1))

        assert attribution(db, during_draft)["entity_snapshot"]["title"] == "Draft cut"
        final = attribution(db, after_final)["entity_snapshot"]
        assert (final["title"], final["status"], final["id"]) == ("Final cut", "approved", asset)
        terms = attribution(db, lic)["entity_snapshot"]
        license_row = db.execute("SELECT license_type, price_cents FROM app.licenses WHERE id = 'lic_003'").fetchone()
        assert (terms["license_type"], terms["price_cents"]) == license_row
    finally:
        db.execute("UPDATE app.assets SET title = %s WHERE id = %s", (original, asset))


def test_rerun_of_an_interval_gives_the_same_rows(db, database_url, hour):
    sid = f"s-{uuid.uuid4().hex[:8]}"
    ids = [
        insert_event(
            db,
            received_at=hour + timedelta(minutes=i * 7),
            session_id=sid if i % 2 else None,
            user_agent=(MAC_SAFARI, IPHONE, "curl/8.4.0")[i % 3],
            entity_type="asset" if i % 3 == 0 else None,
            entity_id="ast_010" if i % 3 == 0 else None,
            attribution={"utmSource": f"src{i}"},
        )
        for i in range(8)
    ]
    end = hour + timedelta(hours=1)
    outside = insert_event(db, received_at=end, session_id=sid)  # the next interval's: not touched

    def snapshot():
        rows = db.execute(
            "SELECT * FROM analytics.attribution WHERE received_at >= %s AND received_at < %s ORDER BY event_id",
            (hour, end),
        )
        cols = [c.name for c in rows.description]
        data = [tuple(v for c, v in zip(cols, r, strict=True) if c != "enriched_at") for r in rows.fetchall()]
        session = db.execute(
            "SELECT session_id, started_at, last_event_at, event_count, utm_source FROM analytics.sessions "
            "WHERE session_id = %s",
            (sid,),
        ).fetchone()
        return data, session

    first_stats = enrich_interval(database_url, hour, end, run_id="first")
    before = snapshot()
    second_stats = enrich_interval(database_url, hour, end, run_id="second")
    after = snapshot()

    assert before == after
    assert len(before[0]) == 8 and {r[0] for r in before[0]} == {uuid.UUID(i) for i in ids}
    assert before[1][3] == 4  # event_count not doubled by the re-run
    assert db.execute("SELECT count(*) FROM analytics.attribution WHERE event_id = %s", (outside,)).fetchone()[0] == 0
    assert (first_stats.rows_replaced, second_stats.rows_replaced) == (0, 8)
    runs = db.execute(
        "SELECT run_id, stats FROM analytics.job_runs WHERE job = 'enrich' AND interval_start = %s ORDER BY id",
        (hour,),
    ).fetchall()
    assert [r[0] for r in runs] == ["first", "second"]
    assert runs[1][1]["events"] == 8 and runs[1][1]["distinct_user_agents"] == 3
    assert runs[1][1]["sessions_touched"] == 1 and runs[1][1]["duration_ms"] >= 0


def test_empty_interval_is_recorded_and_a_reversed_one_rejected(db, database_url):
    start = datetime(2024, 6, 1, 3, tzinfo=UTC)
    stats = enrich_interval(database_url, start, start + timedelta(hours=1), run_id="empty")
    assert stats.events == 0 and stats.sessions_touched == 0
    with pytest.raises(ValueError, match="empty interval"):
        enrich_interval(database_url, start, start)


def test_a_session_s_actor_is_its_first_event_s_in_any_run_order(db, database_url, hour):
    """A visitor browses anonymously (hour 1), then signs in (hour 2): the session's actor is the anonymous id
    whichever hour is enriched first (a backfill in reverse order gave the user: the first run to write won)."""
    h1, h2 = hour, hour + timedelta(hours=1)
    actors = {}
    for order in ((h1, h2), (h2, h1)):
        sid = f"s-{uuid.uuid4().hex[:8]}"
        insert_event(db, received_at=h1 + timedelta(minutes=50), session_id=sid, actor_id="anon-7")
        insert_event(db, received_at=h2 + timedelta(minutes=5), session_id=sid, actor_id="usr_004")
        for start in order:
            enrich_interval(database_url, start, start + timedelta(hours=1))
        actors[order] = db.execute("SELECT actor_id FROM analytics.sessions WHERE session_id = %s", (sid,)).fetchone()
    assert list(actors.values()) == [("anon-7",), ("anon-7",)]


def test_first_event_of_a_session_ties_break_on_the_smaller_id(db, database_url, hour):
    """Two events share the session's first instant: the smaller id is the first, whatever the insert order;
    the first known actor is taken even though the session starts anonymous."""
    sid = f"tie-{uuid.uuid4().hex[:8]}"
    at = hour + timedelta(minutes=5)
    base = uuid.uuid4().hex[:31]
    ids = {name: str(uuid.UUID(base + name)) for name in "abc"}  # a < b < c
    for name, occurred, actor in (("b", at, None), ("c", at + timedelta(seconds=3), "usr_001"), ("a", at, None)):
        insert_event(
            db,
            id=ids[name],
            received_at=hour + timedelta(minutes=10),
            occurred_at=occurred,
            session_id=sid,
            actor_id=actor,
            attribution={"landingPage": f"/{name}"},
        )
    enrich_interval(database_url, hour, hour + timedelta(hours=1))
    row = db.execute(
        "SELECT first_event_id::text, landing_page, actor_id, started_at, last_event_at, event_count "
        "FROM analytics.sessions WHERE session_id = %s",
        (sid,),
    ).fetchone()
    assert row == (ids["a"], "/a", "usr_001", at, at + timedelta(seconds=3), 3)
    assert attribution(db, ids["c"])["landing_page"] == row[1]


def test_two_changes_in_one_transaction_leave_one_version(db):
    asset = "ast_098"
    with db.transaction():
        db.execute("UPDATE app.assets SET title = 'step one' WHERE id = %s", (asset,))
        db.execute("UPDATE app.assets SET title = 'step two' WHERE id = %s", (asset,))
    rows = db.execute(
        "SELECT valid_from, valid_to, data->>'title' FROM analytics.entity_versions "
        "WHERE entity_type = 'asset' AND entity_id = %s ORDER BY valid_from",
        (asset,),
    ).fetchall()
    assert rows[-1][1] is None and rows[-1][2] == "step two"
    assert all(lo < hi for lo, hi, _ in rows[:-1]), rows  # no zero-length versions
    assert rows[-2][1] == rows[-1][0]  # contiguous
    db.execute("UPDATE app.assets SET updated_at = now() WHERE id = %s", (asset,))  # not a new version
    assert db.execute("SELECT count(*) FROM analytics.entity_versions WHERE entity_id = %s", (asset,)).fetchone()[
        0
    ] == len(rows)


def test_awkward_text_survives_the_csv_round_trips(db, database_url, hour):
    sid = f's,{uuid.uuid4().hex[:6]}"q\r'  # a lone carriage return ends a CSV row unless the field is quoted
    weird = {
        "referrer": "NA\rx",
        "landingPage": 'line one\nline "two", three',
        "utmSource": "",
        "utmTerm": "\\.",
        "utmContent": "null",
    }
    first = insert_event(
        db, received_at=hour + timedelta(minutes=1), session_id=sid, user_agent='Weird/1.0 (x, "y")', attribution=weird
    )
    lone = insert_event(
        db, received_at=hour + timedelta(minutes=2), attribution={"referrer": "a,b", "utmMedium": "NULL"}
    )

    enrich_interval(database_url, hour, hour + timedelta(hours=1))

    row = attribution(db, first)
    assert row["session_id"] == sid
    assert (row["referrer"], row["landing_page"], row["utm_term"], row["utm_content"]) == (
        "NA\rx",
        'line one\nline "two", three',
        "\\.",
        "null",
    )
    assert row["utm_source"] in ("", None)  # an empty UTM value carries no information either way
    assert pick(attribution(db, lone), "referrer", "utm_medium", "session_id") == ("a,b", "NULL", None)
    session = db.execute("SELECT landing_page FROM analytics.sessions WHERE session_id = %s", (sid,)).fetchone()
    assert session == ('line one\nline "two", three',)


def test_user_agents_are_parsed_once_ever_and_again_for_another_parser(db, database_url, hour):
    ua = f"{MAC_CHROME} cache-{uuid.uuid4().hex[:8]}"
    first = insert_event(db, received_at=hour + timedelta(minutes=1), user_agent=ua)
    one = enrich_interval(database_url, hour, hour + timedelta(hours=1))
    assert (one.distinct_user_agents, one.user_agents_parsed) == (1, 1)
    cached = db.execute("SELECT os_name, device_type FROM analytics.user_agents WHERE ua = %s", (ua,)).fetchone()
    assert cached == ("macOS", "desktop")

    later = hour + timedelta(hours=1)
    second = insert_event(db, received_at=later + timedelta(minutes=1), user_agent=ua)
    two = enrich_interval(database_url, later, later + timedelta(hours=1))
    assert (two.distinct_user_agents, two.user_agents_parsed) == (1, 0)  # from the cache
    assert pick(attribution(db, second), "os_name", "device_type") == ("macOS", "desktop")

    # A row left by another parser version (say, before an upgrade) is not trusted: parsed again, replaced.
    db.execute("UPDATE analytics.user_agents SET parser = 'old', os_name = 'Wrong' WHERE ua = %s", (ua,))
    again = enrich_interval(database_url, hour, hour + timedelta(hours=1))
    assert again.user_agents_parsed == 1
    assert attribution(db, first)["os_name"] == "macOS"
    assert db.execute("SELECT os_name FROM analytics.user_agents WHERE ua = %s", (ua,)).fetchone() == ("macOS",)


def test_rerun_after_changes_writes_only_the_difference(db, database_url, hour):
    sid = f"d-{uuid.uuid4().hex[:8]}"
    end = hour + timedelta(hours=1)
    e1 = insert_event(db, received_at=hour + timedelta(minutes=10), session_id=sid, attribution={"utmSource": "a"})
    e2 = insert_event(db, received_at=hour + timedelta(minutes=20), session_id=sid)
    lone = insert_event(db, received_at=hour + timedelta(minutes=30), user_agent=IPHONE)
    gone = insert_event(db, received_at=hour + timedelta(minutes=40))
    enrich_interval(database_url, hour, end)
    lone_before = attribution(db, lone)

    # Since the first run: one event removed, one late-loaded event from before the session's start.
    db.execute("DELETE FROM analytics.events WHERE id = %s", (gone,))
    late = insert_event(
        db,
        received_at=hour + timedelta(minutes=50),
        occurred_at=hour + timedelta(minutes=5),
        session_id=sid,
        attribution={"utmSource": "late"},
    )
    stats = enrich_interval(database_url, hour, end)

    # Inserted: late; deleted: gone; e1 and e2 keep their stored keys (their session's start and first touch
    # moved in analytics.sessions, which the view reads); lone untouched.
    assert (stats.events, stats.rows_replaced, stats.rows_written) == (4, 4, 2)
    assert db.execute("SELECT count(*) FROM analytics.attribution WHERE event_id = %s", (gone,)).fetchone() == (0,)
    assert attribution(db, lone) == lone_before  # same enriched_at: not rewritten
    for event in (e1, e2, late):
        row = attribution(db, event)
        assert (row["utm_source"], row["session_started_at"]) == ("late", hour + timedelta(minutes=5))
    session = db.execute("SELECT event_count FROM analytics.sessions WHERE session_id = %s", (sid,)).fetchone()
    assert session == (3,)


def test_user_agents_parsed_by_forked_workers_match_one_process(db, database_url, hour):
    """The parse pool (used for many new strings on idle cores) writes what one process writes, escapes and all."""
    tag = uuid.uuid4().hex[:8]
    uas = [f"{MAC_CHROME} pool-{tag}-{i}" for i in range(40)] + [f"Odd\t{tag}\\x\r\nUA", f"{IPHONE} {tag}"]
    events = [insert_event(db, received_at=hour + timedelta(seconds=10 * i), user_agent=ua) for i, ua in enumerate(uas)]
    end = hour + timedelta(hours=1)
    pooled = enrich_interval(database_url, hour, end, parse_workers=2)
    assert (pooled.user_agents_parsed, pooled.parse_processes) == (len(uas), 2)
    rows = [attribution(db, e) for e in events]
    cached = db.execute("SELECT ua FROM analytics.user_agents WHERE ua = ANY(%s) ORDER BY ua", (uas,)).fetchall()
    assert [r[0] for r in cached] == sorted(uas)  # tab, backslash and line breaks survive the COPY text

    db.execute("DELETE FROM analytics.user_agents WHERE ua = ANY(%s)", (uas,))
    single = enrich_interval(database_url, hour, end, parse_workers=1)
    assert (single.user_agents_parsed, single.parse_processes) == (len(uas), 1)
    assert [pick(attribution(db, e), "browser_name", "os_name", "device_type") for e in events] == [
        pick(r, "browser_name", "os_name", "device_type") for r in rows
    ]
    assert pick(rows[0], "os_name", "device_type") == ("macOS", "desktop")
    assert pick(rows[-1], "os_name", "device_type") == ("iOS", "mobile")


_POOL_UNDER_AIRFLOW_SIGTERM = r"""
import signal, sys
from datetime import UTC, datetime
# Like Airflow's task runner: a SIGTERM handler that does not exit, inherited by forked workers.
signal.signal(signal.SIGTERM, lambda *_: print("SIGTERM ignored", file=sys.stderr))
from analytics.enrich.ua_cache import parse_to_copy
pending = [(f"{i:032x}", f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Chrome/120.0.{i}.1") for i in range(200)]
now = datetime(2026, 1, 1, tzinfo=UTC)
pooled = b"".join(parse_to_copy(pending, "auto", "p", now, 2))
assert pooled == b"".join(parse_to_copy(pending, "auto", "p", now, 1)), "pool and one process differ"
try:
    parse_to_copy(pending + [("0" * 32, 12345)], "auto", "p", now, 2)  # a worker fails (12345 is no string):
    # the pool is torn down and the error raised, not waited on
except Exception as exc:
    print("worker error surfaced:", type(exc).__name__)
else:
    raise SystemExit("a worker error was swallowed")
print("ok")
"""


def test_parse_pool_workers_take_sigterm_by_default():
    """The parse workers must not inherit a SIGTERM handler (Airflow's task runner installs one that does not
    exit): `Pool.terminate()` would then wait on them forever, depending on a race, and hang the run."""
    import signal

    from analytics.enrich import ua_cache

    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        with ua_cache.new_pool(1) as pool:
            assert pool.apply(signal.getsignal, (signal.SIGTERM,)) == signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_parse_pool_returns_under_a_sigterm_handler_that_does_not_exit():
    """Regression: inside an Airflow task the pool's workers inherited the task runner's SIGTERM handler, and
    `Pool.terminate()` then waited on them forever (the enrichment run hung). Run in a child process with a
    deadline so a regression fails instead of hanging the suite."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", _POOL_UNDER_AIRFLOW_SIGTERM], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "ok"
    assert "worker error surfaced" in proc.stdout


def test_pandas_session_aggregate_equals_the_sql_one(db, database_url, hour):
    """The aggregate the job computes with pandas is row for row the one PostgreSQL's window query gives, on
    data that trips a careless one."""
    from analytics.enrich.sessions import aggregate_sessions, aggregate_sessions_in_sql

    at = hour + timedelta(minutes=5)
    received = hour + timedelta(minutes=30)
    base = uuid.uuid4().hex[:31]
    ids = {name: str(uuid.UUID(base + name)) for name in "abcdef"}  # a < b < … < f
    tie, anon, empty, fallback = (f"{k}-{uuid.uuid4().hex[:6]}" for k in ("tie", "anon", "empty", "fb"))
    # Ties on occurred_at: the smaller id is the first event whatever the insert order; its actor is unknown.
    insert_event(db, id=ids["b"], received_at=received, occurred_at=at, session_id=tie, actor_id="usr_b",
                 attribution={"referrer": "https://b.example/", "utmSource": "b"})  # fmt: skip
    insert_event(db, id=ids["c"], received_at=received, occurred_at=at, session_id=tie, actor_id=None,
                 event_type="asset_viewed", attribution={"utmSource": "c"})  # fmt: skip
    insert_event(db, id=ids["a"], received_at=received, occurred_at=at, session_id=tie, actor_id="",
                 attribution={"referrer": "https://a.example/", "utmSource": "a"})  # fmt: skip
    # Anonymous, then logged in, then another actor; two logged-in events tie on the instant.
    insert_event(db, received_at=received, occurred_at=at, session_id=anon, attribution={"landingPage": "/start"})
    insert_event(db, id=ids["e"], received_at=received, occurred_at=at + timedelta(seconds=2), session_id=anon,
                 actor_id="usr_e")  # fmt: skip
    insert_event(db, id=ids["d"], received_at=received, occurred_at=at + timedelta(seconds=2), session_id=anon,
                 actor_id="usr_d")  # fmt: skip
    insert_event(db, received_at=received, occurred_at=at + timedelta(seconds=9), session_id=anon, actor_id="usr_z")
    # Empty strings are missing: an empty landingPage does not fall back to the page's url.
    insert_event(db, received_at=received, occurred_at=at, session_id=empty, actor_id="",
                 props={"url": "/not-this"}, attribution={"referrer": "", "landingPage": "", "utmCampaign": ""})  # fmt: skip
    # A page_viewed without landingPage falls back to props url, then path; other event types do not.
    insert_event(db, received_at=received, occurred_at=at, session_id=fallback, props={"path": "/from-path"})
    insert_event(db, received_at=received, occurred_at=at + timedelta(seconds=1), session_id=fallback,
                 props={"url": "/later"})  # fmt: skip
    # Sessionless events are no session; events outside the interval are not read.
    insert_event(db, received_at=received, session_id="", actor_id="usr_x")
    insert_event(db, received_at=received, session_id=None)
    insert_event(db, received_at=hour + timedelta(hours=1), occurred_at=at - timedelta(hours=1), session_id=tie)

    start, end = hour, hour + timedelta(hours=1)
    got = aggregate_sessions(db, start, end).sort_values("session_id", ignore_index=True)
    with db.transaction():
        want = aggregate_sessions_in_sql(db, start, end).sort_values("session_id", ignore_index=True)
    tidy = lambda f: f.astype(object).where(f.notna(), None)  # noqa: E731
    pd.testing.assert_frame_equal(tidy(got), tidy(want))
    rows = {r["session_id"]: r for r in tidy(got).to_dict("records")}
    assert set(rows) == {tie, anon, empty, fallback}
    assert (rows[tie]["first_event_id"], rows[tie]["actor_id"], rows[tie]["n"]) == (ids["a"], "usr_b", 3)
    assert (rows[tie]["utm_source"], rows[tie]["referrer"]) == ("a", "https://a.example/")
    assert (rows[anon]["actor_id"], rows[anon]["landing_page"], rows[anon]["n"]) == ("usr_d", "/start", 4)
    assert rows[anon]["last_us"] - rows[anon]["first_us"] == 9_000_000
    assert [rows[empty][k] for k in ("actor_id", "referrer", "landing_page", "utm_campaign")] == [None] * 4
    assert rows[fallback]["landing_page"] == "/from-path"
