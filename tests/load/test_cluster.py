"""A real Redis Cluster (3 masters on free ports, removed after): the collector, events_load and the stats on it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis
from redis.cluster import RedisCluster

from analytics.collect.keys import Keys
from analytics.collect.stats import accepted_by_hour
from analytics.config import Settings
from analytics.load.tasks import load_streams
from analytics.monitor.checks import stream_marker_key
from analytics.monitor.dashboard import overview
from analytics.monitor.job import monitor
from tests.helpers.redis_cluster import RedisClusterServers
from tests.helpers.redis_server import RedisServer, wait_until
from tests.load.test_shards import ev, send_actors, stored_once

ADMIN = {"Authorization": "Bearer test-admin-token"}


@pytest.fixture(scope="module")
def cluster():
    servers = RedisClusterServers().start()
    yield servers
    servers.cleanup()


def on_cluster(cluster, monkeypatch, shards: int) -> Settings:
    for name, value in {
        "REDIS_URL": cluster.url,
        "ANALYTICS_REDIS_CLUSTER": "1",
        "ANALYTICS_STREAM_SHARDS": str(shards),
    }.items():
        monkeypatch.setenv(name, value)
    return Settings.from_env()


def collector(s: Settings):
    from ingest_api import create_app

    app = create_app(s)
    app.config["TESTING"] = True
    return app.test_client()


def test_collector_and_events_load_on_a_cluster(settings, cluster, monkeypatch, dagbag, db):
    s = on_cluster(cluster, monkeypatch, 4)
    client = collector(s)
    ids = send_actors(client, actors=30, per_actor=3)
    again = client.post("/v1/track", json=ev("usr_001", 0)).get_json()
    assert (again["status"], again["reason"]) == ("duplicate", "fingerprint")
    keyed = ev(None, 7, idempotencyKey="cluster-retry")
    first, retry = (client.post("/v1/track", json=keyed).get_json() for _ in range(2))
    assert (retry["status"], retry["id"]) == ("duplicate", first["id"])
    ids.append(first["id"])
    # Nothing deduplicates an event without actor, session or key, so its call (and a rejection's) keeps its reply
    # under a key of its own (a second run after a lost reply returns it): in the call's slot, or CROSSSLOT.
    loose = client.post("/v1/track/batch", json={"events": [ev(None, 8), ev(None, 9, eventType="nope")]}).get_json()
    assert [r["status"] for r in loose["results"]] == ["accepted", "rejected"]
    ids.append(loose["results"][0]["id"])

    rc = RedisCluster.from_url(cluster.url)
    try:
        shards = Keys.from_settings(s).shard_keys
        assert sum(rc.xlen(k.stream) for k in shards) == len(ids)
        assert len({rc.get_node_from_key(k.stream).name for k in shards}) >= 2  # the shards span nodes
        stats = client.get("/v1/admin/stats", headers=ADMIN).get_json()
        assert stats["windows"]["1h"]["accepted"] == len(ids) and stats["windows"]["1h"]["duplicatesFound"] == 2
        # The monitor's count of an hour (check_counts) sums the shards' counters, each in its own slot.
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        counted = accepted_by_hour(rc, Keys.from_settings(s), [hour - timedelta(hours=1), hour])
        assert counted[hour] + counted[hour - timedelta(hours=1)] == len(ids)

        assert client.get("/readyz").status_code == 200
        page = overview(s)  # the dashboard opens its own client: a cluster one
        assert page["collector"]["ok"] and page["collector"]["lastHour"]["accepted"] == len(ids)
        assert page["stream"]["ok"] and sum(h["length"] for h in page["stream"]["shards"]) == len(ids)

        run = dagbag.get_dag("events_load").test()
        assert run.state == "success"
        assert stored_once(db, ids) == dict.fromkeys(ids, 1)
        assert all(rc.xlen(st) == 0 for st in load_streams(s))

        # The monitor's Redis checks on a cluster: each node holding a stream asked about its durability, each
        # stream's history kept (a marker beside it, in its slot), no loss seen.
        result = monitor(s.database_url, rc, s, datetime.now(UTC))
        servers = result["figures"]["redisDurability"]
        assert len(servers) >= 2 and sorted(st for r in servers for st in r["streams"]) == sorted(load_streams(s))
        assert page["stream"]["redis"] and result["figures"]["streamLosses"] == []
        assert "error" not in (result["figures"]["counts"] or {})  # the accepted-against-stored check ran
        assert all(rc.exists(stream_marker_key(st)) for st in load_streams(s))
        marks = db.execute(
            "SELECT stream, entries_added FROM analytics.stream_marks WHERE stream = ANY(%s)", (load_streams(s),)
        ).fetchall()
        assert sum(n for _, n in marks) == len(ids) and len(marks) == len(load_streams(s))
    finally:
        rc.flushall(target_nodes=RedisCluster.ALL_NODES)  # the next test on this cluster starts empty
        rc.close()


def test_one_shard_on_a_cluster_keeps_every_key_of_a_call_in_one_slot(settings, cluster, monkeypatch, dagbag, db):
    s = on_cluster(cluster, monkeypatch, 1)
    (shard,) = Keys.from_settings(s).shard_keys
    assert shard.stream.endswith(":{0}")  # tagged even alone: unsharded keys would span slots (CROSSSLOT)
    client = collector(s)
    ids = send_actors(client, actors=5, per_actor=2)
    run = dagbag.get_dag("events_load").test()
    assert run.state == "success"
    assert stored_once(db, ids) == dict.fromkeys(ids, 1)
    rc = RedisCluster.from_url(cluster.url)
    rc.flushall(target_nodes=RedisCluster.ALL_NODES)
    rc.close()


def test_with_wait_for_a_missing_replica_no_event_is_answered_202(settings, monkeypatch, redis_client):
    """The shared Redis has no replica: WAIT 1 times out, so the collector answers 503; the retry, once a replica
    would have it, is the same event (duplicate, same id) — here simply the write already made."""
    monkeypatch.setenv("ANALYTICS_REDIS_WAIT_REPLICAS", "1")
    s = Settings.from_env().with_overrides(redis_timeout_seconds=0.4)
    client = collector(s)
    resp = client.post("/v1/track", json=ev("usr_001", 1, idempotencyKey="wait-1"))
    assert resp.status_code == 503
    assert redis_client.xlen(s.stream_key) == 1  # written on the primary, only not confirmed by a replica


def test_with_wait_an_accepted_event_is_already_on_the_replica(settings, monkeypatch):
    """A primary with one replica: each 202 comes after WAIT 1, so the replica holds every accepted event then."""
    # No AOF: the replica's rewrite after its first sync could outlast a stop on a busy machine, and WAIT is about
    # replication, not the disk.
    primary = RedisServer(aof=False).start()
    replica = RedisServer(aof=False, extra=("--replicaof", "127.0.0.1", str(primary.port)))
    try:
        replica.start()
        follower = redis.Redis(port=replica.port)
        wait_until(lambda: follower.info("replication")["master_link_status"] == "up", "the replica to sync")
        monkeypatch.setenv("REDIS_URL", primary.url)
        monkeypatch.setenv("ANALYTICS_REDIS_WAIT_REPLICAS", "1")
        client = collector(Settings.from_env())
        s = Settings.from_env()
        for n in range(5):
            resp = client.post("/v1/track", json=ev(f"usr_00{n + 1}", n))
            assert resp.status_code == 202
            assert follower.xlen(Keys.from_settings(s).stream) == n + 1  # on the replica before the answer
        follower.close()
    finally:
        replica.cleanup()
        primary.cleanup()
