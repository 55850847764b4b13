"""events_replay_rejected through Airflow: collector rejections for an unknown user land once after the fix."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from tests.collect.test_collector import ev, iso


def _replay(dagbag, since: datetime, **conf):
    run = dagbag.get_dag("events_replay_rejected").test(
        run_conf={"stage": "collector", "since": iso(since), "dry_run": False} | conf
    )
    assert run.state == "success"
    return run


def _replay_stats(db, run):
    return db.execute("SELECT stats FROM analytics.job_runs WHERE job = 'replay' AND run_id = %s", (run.run_id,))


def _load(dagbag):
    assert dagbag.get_dag("events_load").test().state == "success"


def _rows(db, since: datetime):
    return db.execute(
        "SELECT id, reason, replay_outcome, replay_event_id, replay_reason, rejected_at, replay_count "
        "FROM analytics.rejected_events WHERE stage = 'collector' AND rejected_at >= %s ORDER BY payload::jsonb->>'sessionId'",
        (since,),
    ).fetchall()


def _events(db, actor: str):
    return db.execute(
        "SELECT id, occurred_at, received_at, session_id FROM analytics.events WHERE actor_id = %s ORDER BY session_id",
        (actor,),
    ).fetchall()


def test_rejected_for_an_unknown_user_land_once_after_the_user_exists(dagbag, settings, client, db):
    user = f"usr_replay_{uuid.uuid4().hex[:8]}"
    # After every rejection an earlier test kept (one from less than a second ago would otherwise be replayed too).
    kept = db.execute("SELECT max(rejected_at) FROM analytics.rejected_events").fetchone()[0]
    since = datetime.now(UTC) - timedelta(seconds=1)
    if kept is not None and kept >= since:
        since = kept + timedelta(microseconds=1)
    occurred = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)
    batch = [
        ev(actorId=user, sessionId="r-1", occurredAt=iso(occurred)),  # keeps its occurrence time
        ev(actorId=user, sessionId="r-2"),  # none given: occurred when first received
        ev(actorId=user, sessionId="r-3", eventType="user_login", entityId=None, entityType=None, props={}),
        ev(actorId=user, sessionId="r-4", eventType="no_such_type"),  # stays rejected, for another reason
    ]
    results = client.post("/v1/track/batch", json={"events": batch}).get_json()["results"]
    assert [r["reason"] for r in results] == ["reference"] * 3 + ["unknown_event_type"]
    _load(dagbag)  # copies the collector's rejections into analytics.rejected_events
    rows = _rows(db, since)
    assert [r[1] for r in rows] == ["reference"] * 3 + ["unknown_event_type"]

    # A dry run cannot check references: it counts what passes the schema and rules, and writes nothing.
    dry = _replay(dagbag, since, dry_run=True)
    assert _replay_stats(db, dry).fetchone()[0]["outcomes"] == {"passes": 3, "rejected": 1}
    # Before the fix: still rejected, marked with the new verdict.
    early = _replay(dagbag, since)
    assert _replay_stats(db, early).fetchone()[0]["outcomes"] == {"rejected": 4}
    assert [(r[2], r[4], r[6]) for r in _rows(db, since)] == [("rejected", "reference", 1)] * 3 + [
        ("rejected", "unknown_event_type", 1)
    ]

    db.execute("INSERT INTO app.users (id, email, name) VALUES (%s, %s, 'Replay')", (user, f"{user}@example.com"))
    try:
        fixed = _replay(dagbag, since)
        stats = _replay_stats(db, fixed).fetchone()[0]
        assert stats["outcomes"] == {"rejected": 1, "replayed": 3}
        assert stats["stillRejectedByReason"] == {"unknown_event_type": 1} and stats["selected"] == 4
        _load(dagbag)
        rows = _rows(db, since)
        events = _events(db, user)
        assert [r[2] for r in rows] == ["replayed"] * 3 + ["rejected"]
        assert sorted(str(e[0]) for e in events) == sorted(str(r[3]) for r in rows[:3])
        assert [e[3] for e in events] == ["r-1", "r-2", "r-3"]
        assert events[0][1] == occurred  # the client's occurredAt, not the replay's time
        assert events[1][1] == rows[1][5]  # no occurredAt: the moment it first arrived
        assert all(e[2] > rows[0][5] for e in events)  # received now: the loader's watermark and enrich see it

        # Twice is harmless: replayed rows are skipped; only the still-rejected one is tried again.
        again = _replay(dagbag, since)
        assert _replay_stats(db, again).fetchone()[0]["outcomes"] == {"rejected": 1}
        # Even with the marks lost (a crash between append and marking), the append is idempotent.
        db.execute(
            "UPDATE analytics.rejected_events SET replay_outcome = NULL WHERE id = ANY(%s)", ([r[0] for r in rows[:3]],)
        )
        lost = _replay(dagbag, since, reason="reference")
        assert _replay_stats(db, lost).fetchone()[0]["outcomes"] == {"duplicate": 3}
        _load(dagbag)
        assert len(_events(db, user)) == 3
    finally:
        db.execute("DELETE FROM analytics.events WHERE actor_id = %s", (user,))
        db.execute("DELETE FROM analytics.rejected_events WHERE id = ANY(%s)", ([r[0] for r in _rows(db, since)],))
        db.execute("DELETE FROM app.users WHERE id = %s", (user,))
