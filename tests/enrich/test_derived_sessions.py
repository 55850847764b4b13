"""Sessions derived for events without a sessionId (browsers): by inactivity per actor, the same whatever the order,
timing or repetition of the interval runs."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from analytics.enrich.job import enrich_interval
from tests.enrich.test_enrich import MAC_CHROME, attribution, insert_event

GAP = timedelta(minutes=30)
UTM = {"utmSource": "news", "utmMedium": "social", "utmCampaign": "launch", "referrer": "https://news.example/"}


def _intervals(day: datetime) -> list[tuple[datetime, datetime]]:
    """Three receive hours of the day, after the events occurred."""
    return [(day + timedelta(hours=h), day + timedelta(hours=h + 1)) for h in (12, 13, 14)]


def _visit(db, day: datetime, actor: str, *, late: bool) -> dict[str, str]:
    """An anonymous visitor's events at 10:00, 10:20, 10:45 and 11:30 (received over three intervals), plus, when
    `late`, an event at 11:10 received last that joins the two sessions the gap at 10:45 → 11:30 would make."""
    at = lambda hh, mm: day + timedelta(hours=hh, minutes=mm)  # noqa: E731
    (r0, _), (r1, _), (r2, _) = _intervals(day)
    common = {"actor_id": actor, "actor_type": "anonymous", "user_agent": MAC_CHROME}
    ids = {
        "landing": insert_event(
            db,
            received_at=r0,
            occurred_at=at(10, 0),
            props={"path": "/", "url": "http://shop.test/?utm_source=news"},
            attribution=UTM | {"landingPage": "http://shop.test/?utm_source=news"},
            **common,
        ),
        "second": insert_event(db, received_at=r0 + timedelta(minutes=1), occurred_at=at(10, 20), **common),
        "third": insert_event(db, received_at=r1, occurred_at=at(10, 45), **common),
        "after_gap": insert_event(
            db, received_at=r1, occurred_at=at(11, 30), attribution={"utmSource": "other"}, **common
        ),
        "other_actor": insert_event(db, received_at=r1, occurred_at=at(11, 31), actor_id=f"{actor}-2"),
        "client_session": insert_event(db, received_at=r1, occurred_at=at(10, 50), session_id=f"c-{actor}", **common),
        "no_actor": insert_event(db, received_at=r1, occurred_at=at(10, 51), props={"test": actor}),
    }
    if late:
        ids["late"] = insert_event(db, received_at=r2, occurred_at=at(11, 10), **common)
    return ids


def _state(db, actor: str, ids: dict[str, str]) -> tuple[list, dict]:
    sessions = db.execute(
        "SELECT session_id, actor_id, started_at, last_event_at, event_count, first_event_id, referrer, landing_page,"
        " utm_source, utm_medium, utm_campaign FROM analytics.sessions"
        " WHERE derived AND actor_id IN (%s, %s) ORDER BY started_at",
        (actor, f"{actor}-2"),
    ).fetchall()
    by_event = {
        name: db.execute("SELECT session_id FROM analytics.event_context WHERE event_id = %s", (i,)).fetchone()
        for name, i in ids.items()
    }
    return sessions, by_event


def _run(database_url, day: datetime, order: list[int]) -> None:
    spans = _intervals(day)
    for n in order:
        enrich_interval(database_url, *spans[n], session_gap=GAP)


def _reset(db, actor: str, ids: dict[str, str]) -> None:
    db.execute("DELETE FROM analytics.event_context WHERE event_id = ANY(%s::uuid[])", (list(ids.values()),))
    db.execute("DELETE FROM analytics.sessions WHERE actor_id IN (%s, %s)", (actor, f"{actor}-2"))


def test_a_visit_is_one_session_in_any_order_on_time_late_or_rerun(db, database_url, day, actor):
    ids = _visit(db, day, actor, late=True)
    _run(database_url, day, [0, 1, 2])
    on_time = _state(db, actor, ids)

    (visit, other), by_event = on_time
    assert visit[1:6] == (
        actor,
        day + timedelta(hours=10),
        day + timedelta(hours=11, minutes=30),
        5,
        uuid.UUID(ids["landing"]),
    )
    assert visit[6:] == ("https://news.example/", "http://shop.test/?utm_source=news", "news", "social", "launch")
    assert visit[0].startswith("d-") and other[4] == 1
    assert {by_event[n][0] for n in ("landing", "second", "third", "after_gap", "late")} == {visit[0]}
    assert by_event["client_session"][0] == f"c-{actor}"  # a client's session id is never replaced
    assert by_event["no_actor"][0] is None  # nothing to group by
    row = attribution(db, ids["third"])
    assert (row["session_started_at"], row["session_duration_ms"]) == (day + timedelta(hours=10), 90 * 60 * 1000)
    assert (row["landing_page"], row["utm_campaign"], row["referrer"]) == (visit[7], "launch", "https://news.example/")

    for order in ([2, 0, 1], [1, 2, 0], [2, 2, 1, 0, 1]):
        _reset(db, actor, ids)
        _run(database_url, day, order)
        assert _state(db, actor, ids) == on_time, order
    _run(database_url, day, [1, 0])  # re-runs over a finished state change nothing
    assert _state(db, actor, ids) == on_time


def test_a_late_event_joins_two_sessions_as_if_it_had_come_on_time(db, database_url, day, actor):
    ids = _visit(db, day, actor, late=False)
    _run(database_url, day, [0, 1])
    sessions, by_event = _state(db, actor, ids)
    assert [s[4] for s in sessions if s[1] == actor] == [3, 1]  # 10:00–10:45, then 11:30 after the 45 min gap
    assert by_event["after_gap"] != by_event["third"]
    assert attribution(db, ids["after_gap"])["utm_source"] == "other"  # its own session's first touch

    (_, _), (_, _), (r2, _) = _intervals(day)
    ids["late"] = insert_event(
        db,
        received_at=r2,
        occurred_at=day + timedelta(hours=11, minutes=10),
        actor_id=actor,
        actor_type="anonymous",
        user_agent=MAC_CHROME,
    )
    _run(database_url, day, [2])  # only the late event's interval
    late = _state(db, actor, ids)

    _reset(db, actor, ids)
    _run(database_url, day, [0, 1, 2])
    assert late == _state(db, actor, ids)
    sessions, by_event = late
    assert [s[4] for s in sessions if s[1] == actor] == [5]
    assert attribution(db, ids["after_gap"])["utm_source"] == "news"  # now inside the session that landed at 10:00
