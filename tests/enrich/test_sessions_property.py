"""Property test of sessions under any interleaving of enrichment runs (any hours, any order, re-runs, late events)
and nightly deduplication runs (any window): analytics.sessions / analytics.event_context of a random small event
set equal a from-scratch reference computed in Python from the stored events (and the marks the nightly job left).

Client sessions (derived = false): event_count = the session's enriched events not marked duplicates (checked after
every step). Derived sessions: an actor's (type, id) sessionless events split at gaps > 30 min and at UTC midnight, id
'd-' || md5(type:actor:first µs), event_count = its events not marked (checked after every step while every event
is loaded, and at the end). event_context: every enriched event's session and duplicate flag.

PROPERTY_EXAMPLES (default 10) sets the number of random cases; PROPERTY_AGGREGATOR=sql runs the SQL aggregate;
CONCURRENT_CASES / PROPERTY_SEED the concurrent test's cases and seed.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.dedup.job import deduplicate
from analytics.enrich.job import enrich_interval

GAP = timedelta(minutes=30)
HOUR = timedelta(hours=1)
EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "10"))  # the review ran 4,800 cases; the suite keeps a few
AGGREGATOR = os.environ.get("PROPERTY_AGGREGATOR", "pandas")  # or "sql": the per-session aggregate in PostgreSQL

# (actor_type, actor suffix): "a" is an anonymous, a user and an untyped id; None: no actor; "": an empty actor id.
ACTORS = [
    ("anonymous", "a"),
    ("user", "a"),
    (None, "a"),
    ("anonymous", "b"),
    ("service", "b"),
    (None, None),
    ("anonymous", ""),
]
SESSIONS = [None, "", "s1", "s2"]


@st.composite
def scenarios(draw):
    n = draw(st.integers(2, 20))
    whole = draw(st.booleans())  # whole minutes: gaps of exactly 30 minutes
    events = []
    for i in range(n):
        dup_of = draw(st.none() | st.integers(0, i - 1)) if i else None
        if dup_of is not None:  # a repeat of an earlier event within a second: a duplicate for the nightly job
            base = events[dup_of]
            ev = dict(base, occurred_ms=base["occurred_ms"] + draw(st.integers(0, 999)))
        else:
            actor = draw(st.sampled_from(ACTORS))
            ev = {
                "actor": actor,
                "session": draw(st.sampled_from(SESSIONS if actor[1] is not None else ["s1", "s2"])),
                # around midnight (day 1 00:00 = 0), in ms
                "occurred_ms": draw(st.integers(-180, 180)) * 60_000 + (0 if whole else draw(st.integers(0, 59_999))),
                "path": draw(st.sampled_from(["/", "/x"])),
            }
        delay = draw(
            st.one_of(
                st.integers(-240, 0),  # occurredAt a little in the future of receipt (clock skew)
                st.integers(0, 1800),
                st.integers(3600, 3 * 3600),  # late
                st.integers(3600, 50 * 3600),  # very late
            )
        )
        events.append(dict(ev, delay_s=delay, batch=draw(st.integers(0, 1))))
    ops = draw(
        st.lists(
            st.one_of(
                st.tuples(st.just("enrich"), st.integers(0, 100)),
                st.tuples(st.just("enrich"), st.integers(0, 100)),
                st.tuples(st.just("dedup"), st.integers(0, 100), st.integers(-59, 59), st.integers(1, 240)),
                st.tuples(st.just("load"), st.just(1)),
            ),
            min_size=2,
            max_size=14,
        )
    )
    final_order = draw(st.randoms(use_true_random=False))
    final_dedup = draw(st.booleans())
    return events, ops, final_order, final_dedup


def derived_id(actor_type, actor_id, first: datetime) -> str:
    us = (first - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    return "d-" + hashlib.md5(f"{actor_type or ''}:{actor_id}:{us}".encode()).hexdigest()


def reference(rows, enriched: set[str]):
    """rows: the events as stored (id, actor_type, actor_id, session_id, occurred_at, marked); enriched: the ids with
    a context row. ({session_id: (derived, count, started, last, first_event_id)}, {event_id: (session, duplicate)})."""
    sessions, context = {}, {}
    client: dict[str, list] = {}
    sessionless: dict[tuple, list] = {}
    for r in rows:
        eid, atype, aid, sid, _, marked = r
        if sid:
            client.setdefault(sid, []).append(r)
        elif aid:
            sessionless.setdefault((atype, aid), []).append(r)
        else:
            context[eid] = (None, marked)
    for sid, evs in client.items():
        for r in evs:
            context[r[0]] = (sid, r[5])
        evs = sorted((r for r in evs if r[0] in enriched), key=lambda r: (r[4], r[0]))  # what enrichment merged
        if evs:
            sessions[sid] = (False, sum(1 for r in evs if not r[5]), evs[0][4], evs[-1][4], evs[0][0])
    for (atype, aid), evs in sessionless.items():
        evs.sort(key=lambda r: (r[4], r[0]))
        groups, cur = [], [evs[0]]
        for prev, r in zip(evs, evs[1:], strict=False):
            if r[4] - prev[4] > GAP or r[4].astimezone(UTC).date() != prev[4].astimezone(UTC).date():
                groups.append(cur)
                cur = []
            cur.append(r)
        groups.append(cur)
        for g in groups:
            sid = derived_id(atype, aid, g[0][4])
            sessions[sid] = (True, sum(1 for r in g if not r[5]), g[0][4], g[-1][4], g[0][0])
            for r in g:
                context[r[0]] = (sid, r[5])
    return sessions, {k: v for k, v in context.items() if k in enriched}


def client_invariant(db, prefix: str) -> list:
    """Client sessions whose event_count is not their enriched, unmarked rows; rows whose flag is not the mark."""
    counts = db.execute(
        """
        SELECT s.session_id, s.event_count,
               (SELECT count(*) FROM analytics.event_context c JOIN analytics.events e
                    ON e.id = c.event_id AND e.received_at = c.received_at
                 WHERE c.session_id = s.session_id AND NOT (e.props_json ? '_duplicate'))
          FROM analytics.sessions s
         WHERE NOT s.derived AND s.session_id LIKE %(l)s
        """,
        {"l": f"{prefix}%"},
    ).fetchall()
    flags = db.execute(
        """
        SELECT c.event_id, c.duplicate FROM analytics.event_context c JOIN analytics.events e
            ON e.id = c.event_id AND e.received_at = c.received_at
         WHERE e.props_json ->> 'test' = %(p)s AND c.duplicate <> (e.props_json ? '_duplicate')
        """,
        {"p": prefix},
    ).fetchall()
    return [c for c in counts if c[1] != c[2]] + flags


def state(db, prefix: str):
    rows = db.execute(
        "SELECT id::text, actor_type, actor_id, session_id, occurred_at, props_json ? '_duplicate'"
        " FROM analytics.events WHERE props_json ->> 'test' = %s",
        (prefix,),
    ).fetchall()
    ids = [r[0] for r in rows]
    context = {
        r[0]: (r[1], r[2])
        for r in db.execute(
            "SELECT event_id::text, session_id, duplicate FROM analytics.event_context WHERE event_id::text = ANY(%s)",
            (ids,),
        ).fetchall()
    }
    sessions = {
        r[0]: tuple(r[1:])
        for r in db.execute(
            "SELECT session_id, derived, event_count, started_at, last_event_at, first_event_id::text"
            " FROM analytics.sessions WHERE actor_id LIKE %(l)s OR session_id LIKE %(l)s"
            " OR first_event_id::text = ANY(%(ids)s)",
            {"l": f"{prefix}%", "ids": ids},
        ).fetchall()
    }
    return rows, context, sessions


def cleanup(db, prefix: str) -> None:
    ids = "SELECT id FROM analytics.events WHERE props_json ->> 'test' = %(p)s"
    db.execute(f"DELETE FROM analytics.event_context WHERE event_id IN ({ids})", {"p": prefix})
    db.execute(
        f"DELETE FROM analytics.sessions WHERE actor_id LIKE %(l)s OR session_id LIKE %(l)s OR first_event_id IN ({ids})",
        {"p": prefix, "l": f"{prefix}%"},
    )
    db.execute(f"DELETE FROM analytics.events WHERE id IN ({ids})", {"p": prefix})


def check_scenario(db, database_url, events, ops, final_order, final_dedup, day: datetime) -> None:
    prefix = f"pp{uuid.uuid4().hex[:8]}"
    midnight = day + timedelta(days=1)
    stored = []
    for ev in events:
        atype, suffix = ev["actor"]
        occurred = midnight + timedelta(milliseconds=ev["occurred_ms"])
        stored.append(
            {
                "id": str(uuid.uuid4()),
                "event_type": "page_viewed",
                "source": "web",
                "occurred_at": occurred,
                "received_at": occurred + timedelta(seconds=ev["delay_s"]),
                "actor_type": atype,
                "actor_id": None if suffix is None else (f"{prefix}-{suffix}" if suffix else ""),
                "session_id": f"{prefix}-{ev['session']}" if ev["session"] else ev["session"],
                "fingerprint": uuid.uuid4().hex,
                "props_json": json.dumps({"path": ev["path"], "test": prefix}),
                "attribution_json": "{}",
                "batch": ev["batch"],
            }
        )
    hours = sorted({e["received_at"].replace(minute=0, second=0, microsecond=0) for e in stored})
    pending: set[datetime] = set()  # hours with events inserted since their last enrichment
    enriched_once: set[datetime] = set()
    log: list[str] = []

    def load(batch: int) -> None:
        for e in stored:
            if e["batch"] == batch:
                row = {k: v for k, v in e.items() if k != "batch"}
                db.execute(
                    f"INSERT INTO analytics.events ({', '.join(row)}) VALUES ({', '.join(['%s'] * len(row))})",
                    list(row.values()),
                )
                pending.add(e["received_at"].replace(minute=0, second=0, microsecond=0))
        log.append(f"load batch {batch}")

    def enrich(h: datetime) -> None:
        enrich_interval(database_url, h, h + HOUR, session_gap=GAP, sessions=AGGREGATOR)
        pending.discard(h)
        enriched_once.add(h)
        log.append(f"enrich {h:%d %H}h")

    def dedup(lo: datetime, hi: datetime) -> None:
        deduplicate(database_url, lo, hi)
        log.append(f"dedup [{lo:%d %H:%M}, {hi:%d %H:%M})")

    def compare(partial: bool) -> None:
        """The stored sessions and rows against the reference of the events stored now. partial: not every event
        is enriched yet, so only the sessions written so far are compared (each must be right)."""
        rows, got_context, got_sessions = state(db, prefix)
        want_sessions, want_context = reference(rows, set(got_context))
        dump = [(r[1], r[2], r[3], r[4].isoformat(), r[5]) for r in sorted(rows, key=lambda r: r[4])]
        assert got_context == want_context, (log, dump)
        if partial:
            want_sessions = {k: v for k, v in want_sessions.items() if k in got_sessions or not v[0]}
        assert got_sessions == want_sessions, (log, dump)

    try:
        load(0)
        loaded_late = False
        for op in ops:
            if op[0] == "enrich":
                enrich(hours[op[1] % len(hours)])
            elif op[0] == "dedup":
                lo = hours[op[1] % len(hours)] + timedelta(minutes=op[2])  # a manual run: any minute
                dedup(lo, lo + timedelta(minutes=op[3]))
            elif not loaded_late:
                load(1)
                loaded_late = True
            assert not client_invariant(db, prefix), log
            if not loaded_late:  # every stored event was there from the start: no session is ever stale
                compare(partial=True)
        if not loaded_late:
            load(1)
        rest = sorted(pending | (set(hours) - enriched_once))
        final_order.shuffle(rest)
        for h in rest:
            enrich(h)
            assert not client_invariant(db, prefix), log
        compare(partial=False)
        if final_dedup:
            dedup(hours[0] - HOUR, hours[-1] + HOUR)
            assert not client_invariant(db, prefix), log
            compare(partial=False)
    finally:
        cleanup(db, prefix)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=bool(os.environ.get("PROPERTY_DERANDOMIZE")),
)
@given(case=scenarios())
def test_sessions_equal_a_from_scratch_reference_after_any_interleaving(db, database_url, case):
    events, ops, final_order, final_dedup = case
    day = datetime(2008, 1, 1, tzinfo=UTC) + timedelta(days=uuid.uuid4().int % 1500)
    check_scenario(db, database_url, events, ops, final_order, final_dedup, day)


def test_concurrent_enrichment_and_dedup_keep_the_counts(db, database_url):
    """Enrichment runs and deduplication runs at once (threads, shared lock): the same invariants afterwards."""
    import random
    from concurrent.futures import ThreadPoolExecutor

    rnd = random.Random(int(os.environ.get("PROPERTY_SEED", "7")))
    for case in range(int(os.environ.get("CONCURRENT_CASES", "2"))):
        prefix = f"pc{uuid.uuid4().hex[:8]}"
        day = datetime(2008, 1, 1, tzinfo=UTC) + timedelta(days=uuid.uuid4().int % 1500)
        midnight = day + timedelta(days=1)
        ids = []
        try:
            base = []
            for _ in range(60):
                if base and rnd.random() < 0.4:
                    b = rnd.choice(base)
                    ev = dict(b, occurred_at=b["occurred_at"] + timedelta(milliseconds=rnd.randint(0, 999)))
                else:
                    actor = rnd.choice(["a", "b"])
                    ev = {
                        "actor_type": rnd.choice(["anonymous", "user"]),
                        "actor_id": f"{prefix}-{actor}",
                        "session_id": rnd.choice([None, "", f"{prefix}-s1", f"{prefix}-s2"]),
                        "occurred_at": midnight + timedelta(seconds=rnd.randint(-5400, 5400)),
                        "props_json": json.dumps({"path": rnd.choice("/x"), "test": prefix}),
                    }
                    base.append(ev)
                row = dict(
                    ev,
                    id=str(uuid.uuid4()),
                    event_type="page_viewed",
                    source="web",
                    fingerprint=uuid.uuid4().hex,
                    attribution_json="{}",
                    received_at=ev["occurred_at"] + timedelta(seconds=rnd.choice([0, 600, 5000, 20000])),
                )
                db.execute(
                    f"INSERT INTO analytics.events ({', '.join(row)}) VALUES ({', '.join(['%s'] * len(row))})",
                    list(row.values()),
                )
                ids.append(row)
            hours = sorted({r["received_at"].replace(minute=0, second=0, microsecond=0) for r in ids})

            def work(seed: int, hours: list[datetime] = hours) -> None:
                r = random.Random(seed)
                for _ in range(6):
                    h = r.choice(hours)
                    if r.random() < 0.5:
                        enrich_interval(database_url, h, h + HOUR, session_gap=GAP, sessions=AGGREGATOR)
                    else:
                        lo = h + timedelta(minutes=r.randint(-30, 30))
                        deduplicate(database_url, lo, lo + timedelta(minutes=r.randint(10, 180)))

            with ThreadPoolExecutor(3) as pool:
                list(pool.map(work, [rnd.randint(0, 10**9) for _ in range(3)]))
            assert not client_invariant(db, prefix), case
            for h in hours:
                enrich_interval(database_url, h, h + HOUR, session_gap=GAP)
            rows, got_context, got_sessions = state(db, prefix)
            want_sessions, want_context = reference(rows, set(got_context))
            assert got_context == want_context, case
            assert got_sessions == want_sessions, case
        finally:
            cleanup(db, prefix)
