"""Stream lag survives a Redis restart from its AOF: counted from the group's position, not XINFO's counters."""

from __future__ import annotations

import redis

from analytics.collect.stats import stream_health
from analytics.load.job import run_load
from analytics.load.stream_reader import backlog
from analytics.load.tasks import loader_config
from tests.load.test_loader import add, make_record


def test_lag_after_a_kill_and_restart_from_the_aof(settings, private_redis, db):
    client = redis.Redis.from_url(private_redis.url)
    cfg = loader_config(settings)
    stream, group = cfg.stream, cfg.group
    try:
        add(client, settings, [make_record(i) for i in range(3000)])
        stats = run_load(settings.database_url, client, cfg)
        assert stats.inserted == 3000 and stats.lag_left == 0
        # Half of the next ones delivered, then Redis killed: what the AOF replays is what the group saw.
        add(client, settings, [make_record(i) for i in range(40)])
        client.xreadgroup(group, "reader", {stream: ">"}, count=25)
        private_redis.kill()
        private_redis.start()
        assert backlog(client, stream, group) == (15, 25)
        assert stream_health(client, stream, group)["lag"] == 15

        stats = run_load(settings.database_url, client, loader_config(settings, reclaim_idle_ms=0))
        assert stats.lag_left == 0 and stats.pending_left == 0
        private_redis.kill()
        private_redis.start()
        assert backlog(client, stream, group) == (0, 0)
        assert stream_health(client, stream, group)["lag"] == 0

        add(client, settings, [make_record(i) for i in range(7)])
        assert backlog(client, stream, group) == (7, 0)
        assert stream_health(client, stream, group)["lag"] == 7
    finally:
        client.close()


def test_lag_past_the_exact_count_is_bounded(settings, private_redis, monkeypatch):
    import analytics.collect.stats as stats
    import analytics.load.stream_reader as reader

    monkeypatch.setattr(stats, "LAG_EXACT_UP_TO", 5)
    client = redis.Redis.from_url(private_redis.url)
    stream, group = settings.stream_key, settings.consumer_group
    try:
        add(client, settings, [make_record(i) for i in range(30)])
        reader.ensure_group(client, stream, group)
        delivered = client.xreadgroup(group, "reader", {stream: ">"}, count=10)[0][1]
        client.xack(stream, group, *[sid for sid, _ in delivered])
        assert backlog(client, stream, group) == (20, 0)  # Redis' counter, within [5, 30 - 5]
        private_redis.kill()
        private_redis.start()
        assert backlog(client, stream, group) == (25, 0)  # no counter after the restart: the upper bound
        client.xtrim(stream, minid=delivered[-1][0], approximate=False)  # 1 entry left before the position: exact again
        assert backlog(client, stream, group) == (20, 0)
    finally:
        client.close()
