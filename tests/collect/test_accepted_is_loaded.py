"""Property: every event the collector accepts is a row of analytics.events after a load, and none of them
lands in analytics.rejected_events (issue #14.3: accept only what the loader can store).

Events are valid by construction but sit at the edges of every field: unicode up to the astral planes,
control characters and NUL, lone surrogates in JSON escapes, lengths at their bounds, big and negative
numbers, props nested to the depth limit, timestamps near the skew and age limits, and odd headers
(X-Forwarded-For behind one trusted proxy, User-Agent). Whatever the collector refuses is fine; what it
accepts must load.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from analytics.collect.events import MAX_PROPS_DEPTH
from analytics.collect.registry import SOURCES
from analytics.load.job import run_load
from analytics.load.tasks import loader_config

# Any code point but surrogates (those come only as JSON escapes, below) and NUL (the collector refuses it: a few
# fields carry one on purpose): control characters, private use and astral planes included.
CHARS = st.characters(codec="utf-8", exclude_characters="\x00")
LONE_SURROGATE = st.integers(0xD800, 0xDFFF).map(lambda c: f"\\u{c:04x}")


def text(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    """Text of any length in the bounds, with both bounds themselves drawn often."""
    exact = st.sampled_from([min_size, max_size]).flatmap(lambda n: st.text(CHARS, min_size=n, max_size=n))
    return st.text(CHARS, min_size=min_size, max_size=max_size) | exact


numbers = (
    st.integers(-(2**70), 2**70)
    | st.sampled_from([2**63 - 1, -(2**63), 2**64, -(2**64) - 1, 10**300, 0, -1])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([1e308, -1e308, 5e-324, -0.0, float("nan"), float("inf"), float("-inf")])  # json: NaN, Infinity
)
scalars = st.none() | st.booleans() | numbers | text(0, 64)


def nested(depth: int) -> st.SearchStrategy:
    """A JSON value whose containers go at most `depth` levels deep."""
    if depth <= 0:
        return scalars
    inner = nested(depth - 1)
    return scalars | st.lists(inner, max_size=3) | st.dictionaries(text(1, 12), inner, max_size=3)


# props is level 1: its values may nest MAX_PROPS_DEPTH - 1 levels more.
extra_props = st.dictionaries(
    text(1, 24).filter(lambda k: not k.startswith("_")), nested(MAX_PROPS_DEPTH - 1), max_size=6
)

KINDS = {
    "page_viewed": st.fixed_dictionaries({"path": text(1, 2048)}, optional={"title": text(0, 512)}),
    "cta_clicked": st.fixed_dictionaries({"ctaId": text(1, 128)}, optional={"label": text(0, 256)}),
    "search_performed": st.fixed_dictionaries(
        {"query": text(0, 512)}, optional={"resultsCount": st.integers(0, 2**40)}
    ),
    "asset_viewed": st.fixed_dictionaries({}, optional={"viewDurationMs": st.integers(0, 86_400_000)}),
}


@st.composite
def events(draw) -> dict:
    kind = draw(st.sampled_from(sorted(KINDS)))
    event: dict = {"eventType": kind, "source": draw(st.sampled_from(SOURCES))}
    event["props"] = draw(KINDS[kind]) | draw(extra_props)
    if kind == "asset_viewed":
        event |= {"entityType": "asset", "entityId": f"ast_{draw(st.integers(1, 100)):03d}"}
    actor = draw(st.sampled_from(["user", "anonymous", "none"]))
    if actor == "user":
        event["actorId"] = f"usr_{draw(st.integers(1, 50)):03d}"  # known users: the reference check passes
    elif actor == "anonymous":
        event |= {"actorId": draw(text(1, 128)), "actorType": "anonymous"}
    if draw(st.booleans()):
        event["sessionId"] = draw(text(1, 128) | text(0, 127).map(lambda t: t + "\x00"))
    if draw(st.booleans()):
        # Unique per draw: a key Postgres holds from an earlier example is the same event, rightly dropped.
        event["idempotencyKey"] = f"{uuid.uuid4().hex[:8]}{draw(text(0, 120))}"
    if draw(st.booleans()):
        event["userAgent"] = draw(text(1, 1024))
    if draw(st.booleans()):
        event["attribution"] = draw(
            st.fixed_dictionaries({}, optional={"utmSource": text(0, 256), "referrer": text(0, 2048)})
        )
    now = datetime.now(UTC)
    old = event["source"] in ("backfill", "import")
    # Offsets from now, near the limits (max age 7 days unless a backfill source, 5 min ahead, 15 min skew);
    # seconds of margin for the time between drawing and posting.
    occurred = draw(
        st.none()
        | st.sampled_from([-timedelta(days=7) + timedelta(minutes=1), timedelta(minutes=4), timedelta(0)])
        | st.timedeltas(-timedelta(days=7 if not old else 3650), timedelta(minutes=4))
    )
    if occurred is not None:
        offset = draw(st.sampled_from(["Z", "+14:00", "-12:00", "+00:00", "+05:45"]))
        stamp = (now + occurred).isoformat(timespec=draw(st.sampled_from(["seconds", "microseconds"])))
        event["occurredAt"] = stamp.replace("+00:00", "") + offset if offset != "+00:00" else stamp
        if offset not in ("Z", "+00:00"):  # the same instant in that offset
            sign = 1 if offset[0] == "+" else -1
            local = now + occurred + sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
            event["occurredAt"] = local.replace(tzinfo=None).isoformat() + offset
        if draw(st.booleans()):
            skew = draw(st.sampled_from([timedelta(minutes=14), -timedelta(minutes=14), timedelta(hours=3)]))
            event["sentAt"] = (now + skew).isoformat()
    if old and draw(st.integers(0, 3)) == 0:
        # A backfill from the calendar's first day, in any offset: some fall before year 1 in UTC (refused with a
        # 400, once a 500); the rest are accepted and must load.
        first_day = draw(st.datetimes(datetime(1, 1, 1), datetime(1, 1, 1, 23, 59, 59)))
        event["occurredAt"] = first_day.isoformat() + draw(st.sampled_from(["Z", "+14:00", "+05:45", "-12:00"]))
    return event


def _body(batch: list[dict], surrogate: str | None) -> bytes:
    text = json.dumps({"events": batch}, ensure_ascii=True)
    if surrogate:  # a lone surrogate escape inside the first string value of props
        text = text.replace('"props": {"', '"props": {"' + surrogate, 1)
    return text.encode()


forwarded = st.sampled_from(["", "203.0.113.7", "2001:db8::1", "unknown", "10.0.0.1:8080", "fe80::1%eth0", "a, b"])
user_agents = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=300)

PROPERTY = hsettings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


@PROPERTY
@given(
    batch=st.lists(events(), min_size=4, max_size=20),
    surrogate=st.none() | st.none() | LONE_SURROGATE,
    xff=forwarded,
    ua=user_agents,
)
def test_every_accepted_event_is_loaded(settings, redis_client, db, batch, surrogate, xff, ua):
    from ingest_api import create_app

    # Each example starts with no fingerprints: earlier examples' would answer "duplicate" and test less.
    stale = list(redis_client.scan_iter(match=f"{settings.key_prefix}:fp:*", count=1000))
    if stale:
        redis_client.delete(*stale)
    client = create_app(settings.with_overrides(trusted_proxies=1)).test_client()
    resp = client.post(
        "/v1/track/batch",
        data=_body(batch, surrogate),
        content_type="application/json",
        headers={"X-Forwarded-For": xff, "User-Agent": ua},
    )
    assert resp.status_code < 500, resp.get_data(as_text=True)
    if resp.status_code != 200:
        return  # refused as a whole (a lone surrogate): nothing accepted
    accepted = [r["id"] for r in resp.get_json()["results"] if r["status"] == "accepted"]
    before = db.execute("SELECT count(*) FROM analytics.rejected_events WHERE stage = 'loader'").fetchone()[0]
    stats = run_load(settings.database_url, redis_client, loader_config(settings))
    assert stats.rejected == 0
    after = db.execute("SELECT count(*) FROM analytics.rejected_events WHERE stage = 'loader'").fetchone()[0]
    assert after == before
    stored = db.execute("SELECT id::text FROM analytics.events WHERE id = ANY(%s::uuid[])", (accepted,)).fetchall()
    assert sorted(r[0] for r in stored) == sorted(accepted)
