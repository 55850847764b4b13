"""A Redis that would lose accepted events on a restart or at maxmemory pages on-call before it does
(monitor.redis_not_durable), and the page resolves once Redis is made durable; a lab Redis can opt out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis

from analytics.config import Settings
from analytics.monitor.job import monitor
from tests.helpers.redis_server import RedisServer, wait_until
from tests.monitor.test_monitor import _hooks

KIND = "monitor.redis_not_durable"


@pytest.fixture(autouse=True)
def _fresh_alerts(db):
    """analytics.alerts is shared by the session: start from no open monitor alert."""
    db.execute("UPDATE analytics.alerts SET state = 'resolved' WHERE state = 'firing' AND kind LIKE 'monitor.%'")


@pytest.fixture
def on_redis(settings, http_receiver, monkeypatch):  # noqa: F811
    """Settings and a client for a Redis of the test's own, started with `extra` options; removed after."""
    started: list[tuple[RedisServer, redis.Redis]] = []
    base, posts = http_receiver
    monkeypatch.setenv("ALERT_WEBHOOK_URL", f"{base}/hook")

    def start(*, aof: bool, extra: tuple[str, ...] = ()) -> tuple[Settings, redis.Redis, list]:
        server = RedisServer(aof=aof, extra=extra).start()
        client = redis.Redis.from_url(server.url)
        started.append((server, client))
        monkeypatch.setenv("REDIS_URL", server.url)
        return Settings.from_env(), client, posts

    yield start
    for server, client in started:
        client.close()
        server.cleanup()


def test_a_redis_without_aof_that_evicts_pages_then_resolves_once_durable(on_redis):
    s, client, posts = on_redis(aof=False, extra=("--maxmemory-policy", "allkeys-lru"))
    now = datetime.now(UTC)
    first = monitor(s.database_url, client, s, now)
    (found,) = first["figures"]["redisDurability"]
    assert (found["durable"], found["aof"], found["maxmemoryPolicy"]) == (False, False, "allkeys-lru")
    assert found["streams"] == [s.stream_key]
    assert KIND in first["alerts"]["fired"]
    (page,) = _hooks(posts, KIND)
    assert page["title"].startswith(f"Redis at 127.0.0.1:{client.connection_pool.connection_kwargs['port']} is not")
    assert "AOF is off" in page["message"] and "maxmemory-policy is allkeys-lru" in page["message"]

    client.config_set("appendonly", "yes")  # starts an AOF rewrite; a shutdown during it hangs
    client.config_set("maxmemory-policy", "noeviction")
    wait_until(lambda: not client.info("persistence")["aof_rewrite_in_progress"], "the AOF rewrite")
    second = monitor(s.database_url, client, s, now + timedelta(minutes=5))
    assert second["figures"]["redisDurability"][0]["durable"]
    assert KIND in second["alerts"]["resolved"]
    assert _hooks(posts, KIND)[-1]["title"].startswith("Resolved: ")


def test_a_durable_redis_raises_nothing_and_a_lab_redis_can_opt_out(on_redis, monkeypatch):
    s, client, posts = on_redis(aof=True)  # AOF with fsync always, noeviction (the default policy)
    result = monitor(s.database_url, client, s, datetime.now(UTC))
    assert result["figures"]["redisDurability"][0]["durable"] and KIND not in result["alerts"]["fired"]

    monkeypatch.setenv("ANALYTICS_MONITOR_REQUIRE_DURABLE_REDIS", "0")
    s, client, posts = on_redis(aof=False)
    result = monitor(s.database_url, client, s, datetime.now(UTC))
    assert not result["figures"]["redisDurability"][0]["durable"]  # still reported
    assert KIND not in result["alerts"]["fired"] and _hooks(posts, KIND) == []
