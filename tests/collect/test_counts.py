"""Trustworthy counts (issue #14): no accepted event dropped, hidden or turned away after it was accepted.

Each rule is driven through the collector (Flask test client), then the loader, into PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from analytics.load.job import run_load
from analytics.load.tasks import loader_config
from tests.collect.test_collector import ev, iso


def _load(settings, redis_client) -> None:
    run_load(settings.database_url, redis_client, loader_config(settings))


def _row(db, event_id: str) -> dict | None:
    cur = db.execute(
        "SELECT source, occurred_at, fingerprint, host(ip_address) AS ip, props_json FROM analytics.events"
        " WHERE id = %s",
        (event_id,),
    )
    row = cur.fetchone()
    return dict(zip([c.name for c in cur.description], row, strict=True)) if row else None


def _rejected(db, marker: str) -> list[tuple[str, dict]]:
    """Collector rejections whose payload carries `marker` (a session id unique to the test)."""
    rows = db.execute(
        "SELECT reason, detail FROM analytics.rejected_events WHERE stage = 'collector' AND payload LIKE %s",
        (f"%{marker}%",),
    )
    return list(rows)


def _page(path: str, session: str, at: str, **over) -> dict:
    fields = {"eventType": "page_viewed", "entityId": None, "entityType": None, "props": {"path": path}}
    return ev(**(fields | {"sessionId": session, "occurredAt": at} | over))


# --- 1. the fingerprint ----------------------------------------------------------------------------------


def test_distinct_actions_in_one_second_are_all_stored(client, settings, redis_client, db):
    at = iso(datetime.now(UTC).replace(microsecond=100_000))
    first = client.post("/v1/track", json=_page("/pricing", "fp-1", at))
    second = client.post("/v1/track", json=_page("/checkout", "fp-1", at))
    # The project's own client keys every event: a key must not stop the fingerprint from telling them apart.
    keyed = [
        client.post("/v1/track", json=_page(f"/keyed/{n}", "fp-1", at, idempotencyKey=f"fp-1-k{n}")) for n in (1, 2)
    ]
    other_source = client.post("/v1/track", json=_page("/pricing", "fp-1", at, source="mobile"))
    responses = [first, second, *keyed, other_source]
    assert [r.status_code for r in responses] == [202] * 5
    _load(settings, redis_client)
    assert all(_row(db, r.get_json()["id"]) for r in responses)


def test_a_double_fired_handler_is_caught_whatever_its_key_order_or_key(client, settings, redis_client):
    at = iso(datetime.now(UTC).replace(microsecond=100_000))
    props = {"ctaId": "buy", "label": "Buy now", "location": "hero"}
    first = client.post(
        "/v1/track",
        json=_page("/", "fp-2", at, eventType="cta_clicked", props=props, idempotencyKey="fp-2-a"),
    )
    again = client.post(
        "/v1/track",
        json=_page("/", "fp-2", at, eventType="cta_clicked", props=dict(reversed(props.items())), idempotencyKey="b"),
    )
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.get_json() == {"id": first.get_json()["id"], "status": "duplicate", "reason": "fingerprint"}
    # Its retry (same key) answers the same original id once the fingerprint has expired.
    redis_client.delete(*redis_client.keys(f"{settings.key_prefix}:fp:*"))
    retry = client.post(
        "/v1/track",
        json=_page("/", "fp-2", at, eventType="cta_clicked", props=props, idempotencyKey="b"),
    )
    assert retry.get_json() == {"id": first.get_json()["id"], "status": "duplicate", "reason": "idempotency_key"}


def test_events_with_neither_actor_nor_session_are_never_fingerprint_deduplicated(client, settings, redis_client, db):
    at = iso(datetime.now(UTC).replace(microsecond=100_000))
    anon = ev(actorId=None, sessionId=None, occurredAt=at, props={"viewDurationMs": 7})
    answers = [client.post("/v1/track", json=anon) for _ in range(2)]
    assert [a.status_code for a in answers] == [202, 202]
    _load(settings, redis_client)
    rows = [_row(db, a.get_json()["id"]) for a in answers]
    assert [r["fingerprint"] for r in rows] == [None, None]


# --- 2. reserved props keys -------------------------------------------------------------------------------


def test_reserved_props_keys_are_refused_with_the_field_and_kept(client, settings, redis_client, db):
    event = ev(sessionId="rsv-1", props={"viewDurationMs": 1, "_duplicate": {"of": "x"}})
    resp = client.post("/v1/track", json=event)
    assert resp.status_code == 422
    body = resp.get_json()
    assert body["code"] == "props"
    assert [(e["field"], e["rule"]) for e in body["errors"]] == [("props._duplicate", "reserved")]
    _load(settings, redis_client)
    ((reason, detail),) = _rejected(db, "rsv-1")
    assert reason == "props" and detail["errors"][0]["field"] == "props._duplicate"


# --- 3. the client address --------------------------------------------------------------------------------


@pytest.mark.parametrize("hop", ["unknown", "proxy.internal", "203.0.113.9:443", "fe80::1%eth0", "_hidden"])
def test_a_non_ip_forwarded_hop_is_stored_without_an_address(settings, redis_client, db, hop):
    from ingest_api import create_app

    client = create_app(settings.with_overrides(trusted_proxies=1)).test_client()
    resp = client.post("/v1/track", json=ev(sessionId=f"xff-{hop}"), headers={"X-Forwarded-For": hop})
    assert resp.status_code == 202
    _load(settings, redis_client)
    assert _row(db, resp.get_json()["id"])["ip"] is None
    assert _rejected(db, f"xff-{hop}") == []
    assert db.execute("SELECT count(*) FROM analytics.rejected_events WHERE stage = 'loader'").fetchone()[0] == 0


def test_a_forwarded_ip_is_stored_in_canonical_form(settings, redis_client, db):
    from ingest_api import create_app

    client = create_app(settings.with_overrides(trusted_proxies=1)).test_client()
    resp = client.post("/v1/track", json=ev(sessionId="xff-v6"), headers={"X-Forwarded-For": "2001:DB8:0:0::1"})
    _load(settings, redis_client)
    assert _row(db, resp.get_json()["id"])["ip"] == "2001:db8::1"


# --- 4. skew correction -----------------------------------------------------------------------------------


def test_a_replay_keeps_its_occurred_at(client, settings, redis_client, db):
    now = datetime.now(UTC).replace(microsecond=0)
    occurred, sent = now - timedelta(hours=2, seconds=5), now - timedelta(hours=2)  # sent 2 h ago, replayed now
    resp = client.post("/v1/track", json=ev(sessionId="replay", occurredAt=iso(occurred), sentAt=iso(sent)))
    assert resp.status_code == 202
    _load(settings, redis_client)
    assert _row(db, resp.get_json()["id"])["occurred_at"] == occurred


def test_skew_correction_stops_at_its_bound(settings, redis_client, db):
    from ingest_api import create_app

    client = create_app(settings.with_overrides(max_clock_skew_seconds=60)).test_client()
    now = datetime.now(UTC).replace(microsecond=0)
    occurred = now - timedelta(minutes=3)
    within = client.post("/v1/track", json=ev(sessionId="skew-in", occurredAt=iso(occurred), sentAt=iso(now)))
    beyond = client.post(
        "/v1/track",
        json=ev(sessionId="skew-out", occurredAt=iso(occurred), sentAt=iso(now - timedelta(minutes=2))),
    )
    _load(settings, redis_client)
    corrected = _row(db, within.get_json()["id"])["occurred_at"]
    assert occurred <= corrected < occurred + timedelta(minutes=1)  # corrected by receivedAt - sentAt (~0)
    assert _row(db, beyond.get_json()["id"])["occurred_at"] == occurred


# --- 6. registered sources --------------------------------------------------------------------------------


def test_an_unregistered_source_is_refused_with_the_valid_ones(client, settings, redis_client, db):
    resp = client.post("/v1/track", json=ev(sessionId="src-1", source="carrier_pigeon"))
    assert resp.status_code == 422
    body = resp.get_json()
    assert body["code"] == "unknown_source"
    ((error),) = body["errors"]
    assert (error["field"], error["rule"]) == ("source", "registered")
    for source in ("web", "mobile", "api", "server", "segment", "backfill", "import"):
        assert source in error["message"]
    _load(settings, redis_client)
    assert [reason for reason, _ in _rejected(db, "src-1")] == ["unknown_source"]


def test_extra_sources_come_from_the_settings(settings, redis_client):
    from ingest_api import create_app

    client = create_app(settings.with_overrides(extra_sources=("carrier_pigeon",))).test_client()
    assert client.post("/v1/track", json=ev(sessionId="src-2", source="carrier_pigeon")).status_code == 202
    assert client.post("/v1/track", json=ev(sessionId="src-3", source="smoke_signal")).status_code == 422


def test_extra_sources_setting_parses_a_list():
    from analytics.config import Settings

    assert Settings.from_env({"ANALYTICS_EXTRA_SOURCES": "kiosk, tv"}).extra_sources == ("kiosk", "tv")
    assert json.dumps(Settings.from_env({}).extra_sources) == "[]"
