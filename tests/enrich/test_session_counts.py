"""A session's event_count leaves out what the nightly job marks as duplicates, as analytics.events_deduplicated does,
whichever runs first (enrichment or deduplication) and however often enrichment runs again (migration 0020)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from analytics.dedup.job import deduplicate
from analytics.enrich.job import enrich_interval
from tests.enrich.test_enrich import insert_event

MIGRATION = (
    Path(__file__).resolve().parents[2] / "include/analytics/migrations/0020_session_counts_without_duplicates.sql"
)


def _visit(db, day, actor, session: str | None) -> dict[str, str]:
    """Three page views at 10:00, 10:00:00.4 (the first one again: a retry, received an hour later) and 10:05,
    received in hours 12 and 13; with `session` None they carry no session id and get a derived session."""
    at = day + timedelta(hours=10)
    common = {"actor_id": actor, "actor_type": "anonymous", "session_id": session, "props": {"path": "/"}}
    return {
        "first": insert_event(db, received_at=day + timedelta(hours=12), occurred_at=at, **common),
        "retry": insert_event(
            db, received_at=day + timedelta(hours=13), occurred_at=at + timedelta(milliseconds=400), **common
        ),
        "next": insert_event(
            db, received_at=day + timedelta(hours=12, minutes=5), occurred_at=at + timedelta(minutes=5), **common
        ),
    }


def _enrich(database_url, day, hours=(12, 13)) -> None:
    for h in hours:
        enrich_interval(database_url, day + timedelta(hours=h), day + timedelta(hours=h + 1))


def _dedup(database_url, day):
    return deduplicate(database_url, day, day + timedelta(days=1))


def _count(db, actor) -> list[tuple[bool, int]]:
    """(derived, event_count) of the actor's sessions."""
    return db.execute(
        "SELECT derived, event_count FROM analytics.sessions WHERE actor_id = %s ORDER BY started_at", (actor,)
    ).fetchall()


def _deduplicated(db, ids: dict[str, str]) -> int:
    return db.execute(
        "SELECT count(*) FROM analytics.events_deduplicated WHERE id = ANY(%s::uuid[])", (list(ids.values()),)
    ).fetchone()[0]


@pytest.mark.parametrize("session", ["client", "derived"])
def test_the_nightly_job_takes_its_duplicates_out_of_counted_sessions(db, database_url, day, actor, session):
    ids = _visit(db, day, actor, f"c-{actor}" if session == "client" else None)
    _enrich(database_url, day)
    assert _count(db, actor) == [(session == "derived", 3)]  # enrichment ran first: the retry was counted

    result = _dedup(database_url, day)

    assert result.marked == 1 and result.sessions_debited == 1
    assert _count(db, actor) == [(session == "derived", 2)] and _deduplicated(db, ids) == 2
    flags = db.execute(
        "SELECT duplicate FROM analytics.event_context WHERE event_id = %s::uuid", (ids["retry"],)
    ).fetchone()
    assert flags == (True,)
    # Enrichment again, each hour and in another order: the count stays where it is; so does a re-run of the job.
    _enrich(database_url, day, hours=(13, 12, 13))
    assert _dedup(database_url, day).marked == 0
    assert _count(db, actor) == [(session == "derived", 2)]


@pytest.mark.parametrize("session", ["client", "derived"])
def test_a_duplicate_marked_before_its_enrichment_is_never_counted(db, database_url, day, actor, session):
    ids = _visit(db, day, actor, f"c-{actor}" if session == "client" else None)
    _enrich(database_url, day, hours=(12,))  # the retry's hour is not enriched yet when the job runs
    assert _count(db, actor) == [(session == "derived", 3 if session == "derived" else 2)]

    assert _dedup(database_url, day).marked == 1
    assert _count(db, actor) == [(session == "derived", 2)]

    _enrich(database_url, day, hours=(13, 12))
    assert _count(db, actor) == [(session == "derived", 2)] and _deduplicated(db, ids) == 2
    assert db.execute(
        "SELECT count(*) FROM analytics.event_context WHERE event_id = ANY(%s::uuid[]) AND duplicate",
        (list(ids.values()),),
    ).fetchone() == (1,)


def test_the_migration_repairs_sessions_counted_before_it(db, database_url, day, actor):
    """Sessions enriched and deduplicated by the code before migration 0020 counted their duplicates: it takes them
    out once, and running it again changes nothing."""
    client = _visit(db, day, actor, f"c-{actor}")
    derived = _visit(db, day + timedelta(hours=1), actor, None)
    _enrich(database_url, day, hours=(12, 13, 14))
    _dedup(database_url, day)
    # The state the old code left: marks, no flags, every event counted.
    everything = list(client.values()) + list(derived.values())
    db.execute("UPDATE analytics.event_context SET duplicate = false WHERE event_id = ANY(%s::uuid[])", (everything,))
    db.execute("UPDATE analytics.sessions SET event_count = 3 WHERE actor_id = %s", (actor,))
    assert sorted(_count(db, actor)) == [(False, 3), (True, 3)]

    for _ in range(2):
        db.execute(MIGRATION.read_text())
        assert sorted(_count(db, actor)) == [(False, 2), (True, 2)]
