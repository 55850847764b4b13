"""Redis stopped or slow → 503 with Retry-After, nothing half-written, recovery when it returns;
Postgres unreachable → references already known still pass, unknown ones get 503 (never a wrong rejection)."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import pytest
import redis

from analytics.collect.copyrow import entry_record
from analytics.collect.keys import Keys
from tests.collect.test_collector import ev

# Explicit occurredAt: a resend then has the same fingerprint whatever second the server receives it in.
EV = ev(sessionId="res", occurredAt=(datetime.now(UTC) - timedelta(minutes=1)).isoformat())


@pytest.fixture
def app_on_private_redis(settings, private_redis):
    from ingest_api import create_app

    app = create_app(settings.with_overrides(redis_url=private_redis.url, redis_timeout_seconds=0.3))
    return app


def _ids(client: redis.Redis, stream: str) -> list[str]:
    return [f[b"id"].decode() for _, f in client.xrange(stream)]


def test_redis_down_503_then_recovery(app_on_private_redis, private_redis, settings):
    c = app_on_private_redis.test_client()
    first = c.post("/v1/track", json=EV)
    assert first.status_code == 202

    private_redis.stop()
    t0 = time.monotonic()
    down = c.post("/v1/track", json={**EV, "sessionId": "during-outage"})
    assert time.monotonic() - t0 < 3
    assert down.status_code == 503
    assert down.headers["Retry-After"] == "1"
    assert down.get_json() == {"code": "unavailable", "message": "event store temporarily unavailable; retry later"}
    assert c.post("/v1/track/batch", json={"events": [EV]}).status_code == 503
    assert c.get("/readyz").status_code == 503
    assert c.get("/healthz").status_code == 200
    assert c.post("/v1/track", data=b"{", content_type="application/json").status_code == 400  # still answered

    private_redis.start()
    probe = redis.Redis.from_url(private_redis.url)
    assert _ids(probe, settings.stream_key) == [first.get_json()["id"]]  # acknowledged = durable; nothing else
    assert c.get("/readyz").status_code == 200
    retry = c.post("/v1/track", json={**EV, "sessionId": "during-outage"})
    assert retry.status_code == 202  # no fingerprint was left behind by the failed attempt
    assert c.post("/v1/track", json=EV).get_json()["id"] == first.get_json()["id"]
    assert _ids(probe, settings.stream_key) == [first.get_json()["id"], retry.get_json()["id"]]
    probe.close()


def test_slow_redis_503_and_a_retry_is_answered_consistently(app_on_private_redis, private_redis, settings):
    c = app_on_private_redis.test_client()
    probe = redis.Redis.from_url(private_redis.url)
    c.post("/v1/track", json={**EV, "sessionId": "warm"})  # load the script and the known-id sets
    with private_redis.writes_paused():  # the write is held past the collector's 0.3 s timeout
        # A client that retries sends an idempotency key (or occurredAt), so a retry can be recognised.
        slow = c.post("/v1/track", json={**EV, "sessionId": "slow", "idempotencyKey": "slow-1"})
    assert slow.status_code == 503
    # The timed-out call may still have run once Redis went on: a retry then answers with that same event.
    retry = c.post("/v1/track", json={**EV, "sessionId": "slow", "idempotencyKey": "slow-1"})
    assert retry.status_code in (200, 202)
    slow_ids = [
        rec["id"]
        for rec in (entry_record(f) for _, f in probe.xrange(settings.stream_key))
        if rec["session_id"] == "slow"
    ]
    assert slow_ids == [retry.get_json()["id"]]
    probe.close()


def test_a_failed_xadd_leaves_no_fingerprint_and_a_retry_is_accepted(
    app_on_private_redis, private_redis, settings, caplog
):
    """The script claims the fingerprint just before the XADD: when the XADD fails (here the stream key holds a
    string, WRONGTYPE), the claim is dropped, so the client's retry is accepted rather than answered "duplicate" of
    an event that was never written."""
    c = app_on_private_redis.test_client()
    probe = redis.Redis.from_url(private_redis.url)
    keys = Keys(settings.key_prefix, settings.stream_key)
    event = {**EV, "sessionId": "xadd-fails", "idempotencyKey": "xadd-1"}
    probe.set(settings.stream_key, "not a stream")

    with caplog.at_level(logging.WARNING, logger="ingest_api.errors"):
        failed = c.post("/v1/track", json=event)
    assert failed.status_code == 503
    assert failed.headers["Retry-After"]
    assert "redis refused the write: WRONGTYPE" in caplog.text  # Redis's own words, for on-call
    assert probe.keys(keys.fingerprint("*")) == []
    assert probe.keys(keys.idempotency("*", "*")) == []

    probe.delete(settings.stream_key)
    retry = c.post("/v1/track", json=event)
    assert retry.status_code == 202
    assert _ids(probe, settings.stream_key) == [retry.get_json()["id"]]
    assert c.post("/v1/track", json=event).get_json() == {
        "id": retry.get_json()["id"],
        "status": "duplicate",
        "reason": "idempotency_key",
    }
    probe.close()


def test_postgres_down_known_refs_pass_unknown_get_503(settings, redis_client):
    from ingest_api import create_app

    app = create_app(settings)
    assert app.extensions["analytics.ingestor"].refs.warm() > 0
    down = create_app(settings.with_overrides(database_url="postgresql://postgres@127.0.0.1:9/none"))
    c = down.test_client()
    assert c.post("/v1/track", json=EV).status_code == 202  # cached: no Postgres needed
    resp = c.post("/v1/track", json={**EV, "actorId": "usr_unknown", "sessionId": "x"})
    assert resp.status_code == 503
    assert resp.get_json()["code"] == "unavailable"
    keys = Keys(settings.key_prefix, settings.stream_key)
    assert redis_client.xlen(keys.rejected_stream) == 0  # not rejected: it may be valid
    assert redis_client.xlen(settings.stream_key) == 1
