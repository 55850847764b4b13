"""Events left in a shard stream the loader no longer drains (ANALYTICS_STREAM_SHARDS lowered too early) page
monitor.orphan_shards, naming the stream; drained, the alert resolves."""

from __future__ import annotations

from datetime import UTC, datetime

from analytics.collect.keys import Keys
from analytics.monitor.job import monitor
from tests.monitor.test_count_check import own_db  # noqa: F401 - the fixture
from tests.monitor.test_monitor import _hooks

KIND = "monitor.orphan_shards"


def test_entries_in_a_shard_nothing_loads_page_until_drained(own_db, redis_client):  # noqa: F811
    s, _, posts = own_db
    orphan = Keys.from_settings(s).shard(3).stream  # sharded once with 4; now unsharded
    first = monitor(s.database_url, redis_client, s, datetime.now(UTC))
    assert KIND not in first["alerts"]["fired"] and first["figures"]["orphanShards"] == {}

    for n in range(3):
        redis_client.xadd(orphan, {"id": f"e{n}", "r": "line"})
    second = monitor(s.database_url, redis_client, s, datetime.now(UTC))
    assert KIND in second["alerts"]["fired"]
    (page,) = _hooks(posts, KIND)
    assert page["title"] == "3 accepted events wait in shard streams nothing loads (ANALYTICS_STREAM_SHARDS=1)"
    assert f"{orphan}: 3 entries" in page["message"]

    # With the shards set back to cover it, the loader drains that stream: no longer an orphan, the alert resolves.
    covered = monitor(s.database_url, redis_client, s.with_overrides(stream_shards=4), datetime.now(UTC))
    assert KIND in covered["alerts"]["resolved"] and covered["figures"]["orphanShards"] == {}
    redis_client.delete(orphan)  # drained; back to one shard, nothing pages
    assert KIND not in monitor(s.database_url, redis_client, s, datetime.now(UTC))["alerts"]["fired"]
