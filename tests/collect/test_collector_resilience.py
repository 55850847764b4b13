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
from tests.helpers.lossy_proxy import lossy_proxy

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


def test_a_lost_reply_writes_nothing_twice(settings, redis_client, db):
    """The append script ran, its reply was lost (the connection dropped on the way back: a failover, a proxy): the
    collector runs the call again. Events that nothing deduplicates (no actor or session, so no fingerprint; no
    idempotency key) and the batch's rejection must not be written twice: before, each such event was a second
    entry with the same id, counted accepted twice, so monitor.events_missing paged for an event that was stored."""
    from analytics.collect.stats import accepted_by_hour
    from analytics.load.job import run_load
    from analytics.load.tasks import loader_config
    from ingest_api import create_app

    port = redis_client.connection_pool.connection_kwargs["port"]
    events = [{"eventType": "cta_clicked", "source": "web", "props": {"ctaId": f"lost-{i}"}} for i in range(3)]
    bad = {"eventType": "cta_clicked", "source": "web", "props": {"ctaId": 7}}
    with lossy_proxy(port) as proxy:
        c = create_app(settings.with_overrides(redis_url=proxy.url)).test_client()
        assert c.post("/v1/track", json={**EV, "sessionId": "warm"}).status_code == 202  # the script is loaded
        proxy.lose_reply_to(b"EVALSHA")
        answer = c.post("/v1/track/batch", json={"events": [*events, bad]})
    assert proxy.lost == 1  # the fault happened: the call ran and its reply went nowhere
    assert answer.status_code == 200
    results = answer.get_json()["results"]
    assert [r["status"] for r in results] == ["accepted", "accepted", "accepted", "rejected"]
    lost_ids = [r["id"] for r in results[:3]]
    assert _ids(redis_client, settings.stream_key)[1:] == lost_ids  # each once, not twice
    assert redis_client.xlen(Keys.from_settings(settings).rejected_stream) == 1
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    hours = [hour - timedelta(hours=1), hour]
    assert sum(accepted_by_hour(redis_client, Keys.from_settings(settings), hours)[h] for h in hours) == 4

    ids = _ids(redis_client, settings.stream_key)
    (rejection,) = [sid.decode() for sid, _ in redis_client.xrange(Keys.from_settings(settings).rejected_stream)]
    try:
        run_load(settings.database_url, redis_client, loader_config(settings, time_budget_s=5.0, block_ms=50))
        stored = db.execute("SELECT count(*) FROM analytics.events WHERE id = ANY(%s::uuid[])", (lost_ids,))
        assert stored.fetchone()[0] == 3
    finally:
        db.execute("DELETE FROM analytics.events WHERE id = ANY(%s::uuid[])", (ids,))
        db.execute("DELETE FROM analytics.rejected_events WHERE stage = 'collector' AND stream_id = %s", (rejection,))


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
