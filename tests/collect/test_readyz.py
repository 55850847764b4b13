"""/readyz reports whether Redis keeps what the collector accepted (AOF on, noeviction) without failing readiness."""

from __future__ import annotations

import pytest

from tests.helpers.redis_server import RedisServer


@pytest.fixture
def redis_without_aof():
    server = RedisServer(aof=False, extra=("--maxmemory-policy", "allkeys-lru")).start()
    yield server
    server.cleanup()


def _readyz(settings, redis_url: str) -> tuple[int, dict]:
    from ingest_api import create_app

    app = create_app(settings.with_overrides(redis_url=redis_url))
    resp = app.test_client().get("/readyz")
    return resp.status_code, resp.get_json()


def test_durable_redis_is_reported_durable(settings, private_redis):
    status, body = _readyz(settings, private_redis.url)  # AOF on (fsync always), default policy noeviction
    assert status == 200 and body["status"] == "ready"
    assert body["redis"] == {"durable": True, "aof": True, "maxmemoryPolicy": "noeviction", "risks": []}


def test_redis_without_aof_that_evicts_is_ready_but_says_what_is_at_risk(settings, redis_without_aof):
    status, body = _readyz(settings, redis_without_aof.url)
    assert status == 200 and body["status"] == "ready"  # not a readiness failure: a lab Redis still serves
    r = body["redis"]
    assert (r["durable"], r["aof"], r["maxmemoryPolicy"]) == (False, False, "allkeys-lru")
    assert any("lost if Redis restarts" in risk for risk in r["risks"])
    assert any("allkeys-lru" in risk and "evicts" in risk for risk in r["risks"])
