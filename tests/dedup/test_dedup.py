"""Nightly deduplication against real PostgreSQL: the 1 s rule, the chain rule, idempotent re-runs."""

from __future__ import annotations

import itertools
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from analytics.dedup.job import deduplicate, rule_name, run_window

# Each test's day is 4 days past the previous one's (a test reaches a day either side of its own), from a start drawn
# once per run. Drawn per test, two of this module's tests shared a window now and then (scanned 6 instead of 2).
_DAYS = itertools.count(random.randrange(0, 700) * 4, 4)  # 2031-2038


@pytest.fixture
def day():
    """A day of its own far in the future, so no other test's events share the scanned interval."""
    return datetime(2031, 1, 1, tzinfo=UTC) + timedelta(days=next(_DAYS))


def _insert(
    db,
    received_at,
    occurred_at=None,
    *,
    actor="usr_001",
    session="s1",
    entity="ast_001",
    etype="asset_viewed",
    source="web",
    props="{}",
):
    eid = uuid.uuid4()
    db.execute(
        """INSERT INTO analytics.events (id, event_type, source, occurred_at, received_at, actor_id, session_id,
                                         entity_id, entity_type, fingerprint, props_json)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'asset', 'fp', %s)""",
        (eid, etype, source, occurred_at or received_at, received_at, actor, session, entity, props),
    )
    return str(eid)


def _dup(db, eid):
    return db.execute("SELECT props_json->'_duplicate' FROM analytics.events WHERE id = %s", (eid,)).fetchone()[0]


def test_within_one_second_marked_and_one_and_a_half_not(db, database_url, day):
    t = day + timedelta(hours=3)
    a = _insert(db, t)
    b = _insert(db, t + timedelta(milliseconds=700))
    c = _insert(db, t + timedelta(seconds=10))
    d = _insert(db, t + timedelta(seconds=11.5))
    found = datetime(2031, 1, 1, 2, tzinfo=UTC)
    res = deduplicate(database_url, day, day + timedelta(days=1), found_at=found)
    assert (res.scanned, res.marked) == (4, 1)
    assert _dup(db, b) == {"of": a, "rule": rule_name(1000), "foundAt": "2031-01-01T02:00:00Z"}
    assert _dup(db, a) is None and _dup(db, c) is None and _dup(db, d) is None


def test_chain_rule_anchors_on_kept_events_only(db, database_url, day):
    # a, b = a+0.8, c = b+0.8 (a+1.6), d = c+0.8: b duplicates a; c is 1.6 s after the kept a, so kept;
    # d duplicates c. A chain of near events never collapses into one.
    t = day + timedelta(hours=5)
    ids = [_insert(db, t + timedelta(milliseconds=800 * i)) for i in range(4)]
    res = deduplicate(database_url, day, day + timedelta(days=1))
    assert res.marked == 2
    assert [(_dup(db, i) or {}).get("of") for i in ids] == [None, ids[0], None, ids[2]]


def test_an_overlapping_run_never_marks_an_anchor_kept_earlier(db, database_url, day):
    """Runs' windows overlap (a manual run covers the 24 h before its trigger). A and B = A + 0.6 s arrive at 10:00; a
    run over them marks B a duplicate of A. X = A - 0.5 s arrives at 14:00 (a late flush). The nightly run over the
    whole day marked A a duplicate of X: B stayed marked as a copy of the now hidden A though it is 1.1 s after X,
    a false duplicate no re-run could repair. A mark's anchor stays kept: X and A are kept, B stays A's duplicate."""
    t = day + timedelta(hours=9)
    a = _insert(db, day + timedelta(hours=10), t)
    b = _insert(db, day + timedelta(hours=10), t + timedelta(milliseconds=600))
    assert deduplicate(database_url, day + timedelta(hours=9), day + timedelta(hours=11)).marked == 1
    x = _insert(db, day + timedelta(hours=14), t - timedelta(milliseconds=500))
    assert deduplicate(database_url, day, day + timedelta(days=1)).marked == 0
    assert [(_dup(db, i) or {}).get("of") for i in (x, a, b)] == [None, None, a]


def test_rerun_marks_nothing_new_and_keeps_marks(db, database_url, day):
    t = day + timedelta(hours=1)
    a = _insert(db, t)
    b = _insert(db, t + timedelta(milliseconds=300))
    c = _insert(db, t + timedelta(milliseconds=600))
    first = deduplicate(database_url, day, day + timedelta(days=1), found_at=day)
    before = [_dup(db, x) for x in (a, b, c)]
    second = deduplicate(database_url, day, day + timedelta(days=1), found_at=day + timedelta(days=1))
    assert (first.marked, second.marked) == (2, 0)
    assert [_dup(db, x) for x in (a, b, c)] == before
    assert before[1]["of"] == a and before[2]["of"] == a


def test_critical_fields_must_all_match(db, database_url, day):
    t = day + timedelta(hours=7)
    _insert(db, t, actor="usr_002")
    other_entity = _insert(db, t + timedelta(milliseconds=100), actor="usr_002", entity="ast_002")
    other_type = _insert(db, t + timedelta(milliseconds=200), actor="usr_002", etype="asset_downloaded")
    other_session = _insert(db, t + timedelta(milliseconds=300), actor="usr_002", session="s2")
    anon1 = _insert(db, t, actor=None, session=None)
    anon2 = _insert(db, t + timedelta(milliseconds=100), actor=None, session=None)
    no_entity_a = _insert(db, t, actor="usr_003", entity=None)
    no_entity_b = _insert(db, t + timedelta(milliseconds=500), actor="usr_003", entity=None)
    deduplicate(database_url, day, day + timedelta(days=1))
    for eid in (other_entity, other_type, other_session, anon1, anon2, no_entity_a):
        assert _dup(db, eid) is None
    assert _dup(db, no_entity_b)["of"] == no_entity_a


def test_source_and_props_must_match_too_whatever_the_key_order(db, database_url, day):
    # The collector's fingerprint fields: two different actions of one user in one second are both kept.
    t = day + timedelta(hours=8)
    a = _insert(db, t, actor="usr_004", props='{"path": "/pricing", "title": "P"}')
    same = _insert(db, t + timedelta(milliseconds=200), actor="usr_004", props='{"title": "P", "path": "/pricing"}')
    other_props = _insert(db, t + timedelta(milliseconds=300), actor="usr_004", props='{"path": "/checkout"}')
    other_source = _insert(
        db,
        t + timedelta(milliseconds=400),
        actor="usr_004",
        source="mobile",
        props='{"path": "/pricing", "title": "P"}',
    )
    # Chain rule per full key: a, same (+0.2 s) and later = a + 1.1 s; later is 0.9 s after `same` but that one
    # is a duplicate, and 1.1 s after the kept a: kept, even with other keys' events in between.
    later = _insert(db, t + timedelta(milliseconds=1100), actor="usr_004", props='{"path": "/pricing", "title": "P"}')
    res = deduplicate(database_url, day, day + timedelta(days=1))
    assert res.marked == 1
    assert _dup(db, same)["of"] == a
    for eid in (a, other_props, other_source, later):
        assert _dup(db, eid) is None


def test_order_is_occurred_at_not_arrival(db, database_url, day):
    t = day + timedelta(hours=9)
    late = _insert(db, t + timedelta(seconds=30), occurred_at=t)  # arrived later, happened first
    early = _insert(db, t + timedelta(seconds=1), occurred_at=t + timedelta(milliseconds=400))
    deduplicate(database_url, day, day + timedelta(days=1))
    assert _dup(db, late) is None
    assert _dup(db, early)["of"] == late


def test_previous_interval_event_anchors_across_the_boundary(db, database_url, day):
    boundary = day + timedelta(hours=12)
    before = _insert(db, boundary - timedelta(milliseconds=400))
    after = _insert(db, boundary + timedelta(milliseconds=300))
    res = deduplicate(database_url, boundary, boundary + timedelta(hours=12))
    assert (res.scanned, res.marked) == (1, 1)
    assert _dup(db, after)["of"] == before
    assert _dup(db, before) is None  # context rows are never marked by this run


def test_view_hides_duplicates_and_run_is_recorded(db, database_url, day):
    t = day + timedelta(hours=2)
    a = _insert(db, t, actor="usr_009")
    b = _insert(db, t + timedelta(milliseconds=10), actor="usr_009")
    deduplicate(database_url, day, day + timedelta(days=1), run_id="test-run-view")
    visible = {
        r[0]
        for r in db.execute(
            "SELECT id::text FROM analytics.events_deduplicated WHERE actor_id = 'usr_009' "
            "AND received_at >= %s AND received_at < %s",
            (day, day + timedelta(days=1)),
        )
    }
    assert visible == {a} and b != a
    stats, start, end = db.execute(
        "SELECT stats, interval_start, interval_end FROM analytics.job_runs WHERE job = 'dedup' AND run_id = %s",
        ("test-run-view",),
    ).fetchone()
    assert (stats["scanned"], stats["marked"], start, end) == (2, 1, day, day + timedelta(days=1))


def _job_run(db, run_id):
    return db.execute(
        "SELECT interval_start, interval_end, stats FROM analytics.job_runs WHERE job = 'dedup' AND run_id = %s",
        (run_id,),
    ).fetchone()


@pytest.mark.parametrize("logical", ["none", "trigger_time"], ids=["no-logical-date", "logical-date-now"])
def test_manual_run_covers_the_hours_before_its_trigger(dagbag, settings, db, day, logical):
    # Triggered at 09:33 with hours=6: [03:33, 09:33). The last complete cron interval (the previous night,
    # which Airflow gives a manual run as its data interval) must stay untouched.
    trigger = day + timedelta(days=1, hours=9, minutes=33)
    today_a = _insert(db, trigger - timedelta(hours=1), actor="usr_030")
    today_b = _insert(db, trigger - timedelta(hours=1) + timedelta(milliseconds=500), actor="usr_030")
    early_a = _insert(db, trigger - timedelta(hours=7), actor="usr_031")
    early_b = _insert(db, trigger - timedelta(hours=7) + timedelta(milliseconds=500), actor="usr_031")
    night_a = _insert(db, day + timedelta(hours=23), actor="usr_032")
    night_b = _insert(db, day + timedelta(hours=23, milliseconds=500), actor="usr_032")

    dag = dagbag.get_dag("events_dedup_nightly")
    run = dag.test(
        run_after=trigger,
        logical_date=None if logical == "none" else trigger,
        run_conf={"hours": 6, "wait_for_loader": False},
    )
    assert run.state == "success"
    assert _dup(db, today_b)["of"] == today_a
    assert _dup(db, early_b) is None and _dup(db, night_b) is None
    assert _dup(db, today_a) is None and _dup(db, early_a) is None and _dup(db, night_a) is None
    start, end, stats = _job_run(db, run.run_id)
    assert (start, end) == (trigger - timedelta(hours=6), trigger)
    assert (stats["scanned"], stats["marked"]) == (2, 1)
    assert stats["window_rule"] == "the trigger (manual run)"


def test_manual_run_with_an_explicit_end(dagbag, settings, db, day):
    end = day + timedelta(hours=12)
    a = _insert(db, end - timedelta(minutes=30), actor="usr_033")
    b = _insert(db, end - timedelta(minutes=30) + timedelta(milliseconds=200), actor="usr_033")
    after = _insert(db, end + timedelta(minutes=30), actor="usr_034")
    after_dup = _insert(db, end + timedelta(minutes=30, milliseconds=200), actor="usr_034")
    dag = dagbag.get_dag("events_dedup_nightly")
    run = dag.test(
        run_after=end + timedelta(hours=5),
        logical_date=None,
        run_conf={"hours": 1, "end": end.isoformat().replace("+00:00", "Z"), "wait_for_loader": False},
    )
    assert run.state == "success"
    assert _dup(db, b)["of"] == a
    assert _dup(db, after_dup) is None and _dup(db, after) is None
    start, stop, stats = _job_run(db, run.run_id)
    assert (start, stop, stats["window_rule"]) == (end - timedelta(hours=1), end, "the explicit end")


@pytest.mark.parametrize("run_type", ["scheduled", "backfill"])
def test_scheduled_and_backfill_runs_keep_their_data_interval(run_type):
    interval_end = datetime(2026, 3, 2, 2, tzinfo=UTC)
    w = run_window(run_type, 24, data_interval_end=interval_end, run_after=interval_end + timedelta(hours=7))
    assert (w.start, w.end) == (interval_end - timedelta(hours=24), interval_end)
    manual = run_window("manual", 24, data_interval_end=interval_end, run_after=interval_end + timedelta(hours=7))
    assert manual.end == interval_end + timedelta(hours=7)
    with pytest.raises(ValueError, match="time zone"):
        run_window("manual", 1, data_interval_end=None, run_after=interval_end, end="2026-03-01T09:30:00")
