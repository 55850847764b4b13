"""A failover on a real Redis Cluster (3 masters, a replica each): with WAIT 1, no event answered 202 is lost.

Clients post events one by one, each retried with its idempotency key until answered 202 or duplicate, while a
master holding a shard's stream is SIGKILLed, its replica promoted, and the dead node restarted (it rejoins as the
new master's replica). Then events_load runs and every answered event is in analytics.events exactly once.
A second test kills a stream's master while the loader is mid-run, between a batch's commit and its XACK."""

from __future__ import annotations

import threading
import time
import uuid
import zlib

import pytest
import redis
from redis.cluster import RedisCluster

from analytics.collect.keys import REF_KINDS, Keys
from analytics.config import Settings
from analytics.load.job import run_load
from analytics.load.tasks import load_streams, loader_config
from analytics.redis_client import open_redis
from tests.helpers.redis_cluster import RedisClusterServers, cluster_nodes, cluster_ok
from tests.helpers.redis_server import wait_until
from tests.load.test_shards import ev, stored_once

SHARDS = 4  # tags {0}..{3} hash to slots 13907, 9842, 5649, 1584: every one of 3 masters holds a stream


@pytest.fixture(scope="module")
def cluster():
    servers = RedisClusterServers(replicas=1, node_timeout_ms=1000).start()
    yield servers
    servers.cleanup()


class Sender(threading.Thread):
    """A client sending one actor's events one by one; a 503 is retried, same idempotency key, until answered."""

    def __init__(self, app, actor: str, run: str):
        super().__init__(daemon=True)
        self.app, self.actor, self.run_id = app, actor, run
        self.answers: dict[str, tuple[str, str]] = {}  # idempotency key → (status, event id)
        self.attempts: list[int] = []  # status code of every attempt, in order
        self.stopping = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            client = self.app.test_client()
            seq = 0
            while not self.stopping.is_set():
                key = f"{self.run_id}-{self.actor}-{seq}"
                event = ev(self.actor, seq, idempotencyKey=key, sessionId=f"{self.run_id}-{self.actor}")
                deadline = time.monotonic() + 60  # only stops a broken test from hanging
                while key not in self.answers:
                    resp = client.post("/v1/track", json=event)
                    self.attempts.append(resp.status_code)
                    if resp.status_code in (200, 202):
                        body = resp.get_json()
                        self.answers[key] = (body["status"], body["id"])
                    elif resp.status_code != 503 or time.monotonic() > deadline:
                        raise AssertionError(f"{key}: {resp.status_code} {resp.get_json()}")
                    else:
                        time.sleep(0.05)  # Retry-After, shortened
                seq += 1
        except BaseException as exc:  # reported by the test
            self.error = exc

    @property
    def pending(self) -> str:
        """The idempotency key of the event being sent (each is retried until answered, then the next)."""
        return f"{self.run_id}-{self.actor}-{len(self.answers)}"

    def answered_since(self, attempts_before: int) -> int:
        return sum(code in (200, 202) for code in self.attempts[attempts_before:])


def actor_per_shard() -> dict[int, str]:
    """One seeded actor routed to each shard (analytics.collect.shards routes by crc32 of the actor)."""
    found: dict[int, str] = {}
    for n in range(1, 51):
        actor = f"usr_{n:03d}"
        found.setdefault(zlib.crc32(actor.encode()) % SHARDS, actor)
    assert len(found) == SHARDS
    return found


def owner(rc: RedisCluster, key: str) -> dict:
    """The master holding `key`, as CLUSTER NODES lists it."""
    port = rc.get_node_from_key(key).port
    return next(n for n in cluster_nodes(port) if n["port"] == port)


def on_cluster(cluster: RedisClusterServers, monkeypatch, prefix: str) -> Settings:
    for name, value in {
        "REDIS_URL": cluster.url,
        "ANALYTICS_REDIS_CLUSTER": "1",
        "ANALYTICS_REDIS_WAIT_REPLICAS": "1",
        "ANALYTICS_STREAM_SHARDS": str(SHARDS),
        "ANALYTICS_KEY_PREFIX": prefix,
        "ANALYTICS_STREAM_KEY": f"{prefix}:events",
    }.items():
        monkeypatch.setenv(name, value)
    return Settings.from_env()


def choose_victim(cluster: RedisClusterServers, monkeypatch, prefix: str) -> tuple[Settings, dict, list[int]]:
    """Settings, the master to kill and the shards it holds. The victim holds a stream but is not the node REDIS_URL
    names (the loader seeds its client from it); the key prefix keeps the known-id sets off it, so only the
    collector's own script connection meets the failover (a cluster pipeline to a dead node would refresh the
    client's slot map by itself)."""
    with RedisCluster.from_url(cluster.url) as rc:
        owners = [owner(rc, k.stream) for k in Keys.from_settings(on_cluster(cluster, monkeypatch, prefix)).shard_keys]
        victim = next(o for o in owners if o["port"] != cluster.nodes[0].port)
        hit = [shard for shard, o in enumerate(owners) if o["port"] == victim["port"]]
        for attempt in range(1000):
            s = on_cluster(cluster, monkeypatch, f"{prefix}-{attempt}")
            keys = Keys.from_settings(s)
            if all(owner(rc, keys.refs(kind))["port"] != victim["port"] for kind in REF_KINDS):
                return s, victim, hit
    raise AssertionError("no key prefix keeps the known-id sets off the victim")


def role(port: int) -> dict:
    return next(n for n in cluster_nodes(port) if n["port"] == port)


def test_a_failover_loses_no_event_answered_202(settings, cluster, monkeypatch, dagbag, db):
    s, victim, hit = choose_victim(cluster, monkeypatch, settings.key_prefix)
    shards = Keys.from_settings(s).shard_keys
    (promoted,) = [n for n in cluster_nodes(victim["port"]) if n["master"] == victim["id"]]
    from ingest_api import create_app

    app = create_app(s)
    app.config["TESTING"] = True
    run = f"fo-{uuid.uuid4().hex[:8]}"
    senders = {shard: Sender(app, actor, run) for shard, actor in actor_per_shard().items()}
    rc = RedisCluster.from_url(cluster.url)
    new_master = redis.Redis(port=promoted["port"])
    try:
        for sender in senders.values():
            sender.start()
        wait_until(lambda: all(len(x.answers) >= 3 for x in senders.values()), "every client to have events in")

        killed_at = {n: len(x.attempts) for n, x in senders.items()}
        cluster.node(victim["port"]).kill()
        survivors = [n.port for n in cluster.nodes if n.port != victim["port"]]
        wait_until(
            lambda: role(promoted["port"])["role"] == "master" and all(cluster_ok(p) for p in survivors),
            "the replica to be promoted",
        )
        promoted_at = {n: len(x.attempts) for n, x in senders.items()}
        wait_until(
            lambda: all(x.answered_since(promoted_at[n]) >= 2 for n, x in senders.items() if n not in hit),
            "the other shards to accept events after the failover",
        )
        # The collector finds the promoted master and writes there, but answers 503: it has no replica yet, so
        # WAIT 1 cannot be met, and no 202 goes out for a write only one node holds.
        wait_until(
            lambda: all(new_master.exists(shards[n].idempotency("web", senders[n].pending)) for n in hit),
            "the event a client retries to be written on the promoted master",
        )
        assert not any(senders[n].answered_since(promoted_at[n]) for n in hit)

        cluster.node(victim["port"]).start()  # its nodes.conf predates the promotion: it rejoins as a replica
        wait_until(
            lambda: role(victim["port"])["master"] == promoted["id"] and cluster.synced(victim["port"]),
            "the old master to rejoin as the new one's replica",
        )
        rejoined_at = {n: len(x.attempts) for n, x in senders.items()}
        wait_until(
            lambda: all(x.answered_since(rejoined_at[n]) >= 3 for n, x in senders.items()),
            "every shard to accept events again",
        )
    finally:
        for sender in senders.values():
            sender.stopping.set()
        for sender in senders.values():
            sender.join(timeout=90)
        new_master.close()
    errors = [x.error for x in senders.values() if x.error is not None]
    assert not errors, errors
    assert all(503 in senders[n].attempts[killed_at[n] :] for n in hit)

    answers = {key: answer for x in senders.values() for key, answer in x.answers.items()}
    ids = [event_id for _, event_id in answers.values()]
    try:
        assert len(set(ids)) == len(ids)  # each event its own id: a duplicate answer names its key's first write
        assert dagbag.get_dag("events_load").test().state == "success"
        assert stored_once(db, ids) == dict.fromkeys(ids, 1)
        keys = db.execute(
            "SELECT idempotency_key, count(*) FROM analytics.events WHERE idempotency_key LIKE %s GROUP BY 1",
            (f"{run}-%",),
        ).fetchall()
        assert dict(keys) == dict.fromkeys(answers, 1)  # no event twice: a refused write and its retry are one
        assert all(rc.xlen(st) == 0 for st in load_streams(s))
    finally:
        db.execute("DELETE FROM analytics.events WHERE idempotency_key LIKE %s", (f"{run}-%",))
        db.execute("DELETE FROM analytics.idempotency_keys WHERE idempotency_key LIKE %s", (f"{run}-%",))
        rc.nodes_manager.initialize()  # its slot map predates the failover
        rc.flushall(target_nodes=RedisCluster.PRIMARIES)
        rc.close()


def test_a_failover_while_the_loader_runs_loads_each_event_once(settings, cluster, monkeypatch, dagbag, db):
    """A master holding a stream dies between a batch's commit and its XACK, mid-run. Whatever that run does then
    (fail, or carry on once its client finds the promoted replica), the next events_load leaves every event in
    analytics.events exactly once and the streams drained: the batch committed but not acknowledged is replayed
    and inserts nothing twice."""
    s, victim, hit = choose_victim(cluster, monkeypatch, settings.key_prefix)
    stream = Keys.from_settings(s).shard_keys[hit[0]].stream
    actor = actor_per_shard()[hit[0]]
    (promoted,) = [n for n in cluster_nodes(victim["port"]) if n["master"] == victim["id"]]
    from ingest_api import create_app

    client = create_app(s).test_client()
    run = f"fl-{uuid.uuid4().hex[:8]}"
    ids: list[str] = []
    for b in range(8):  # 400 events on the victim's shard, answered once a replica holds them (WAIT 1)
        batch = [ev(actor, b * 50 + i, sessionId=f"{run}-s", idempotencyKey=f"{run}-{b * 50 + i}") for i in range(50)]
        results = client.post("/v1/track/batch", json={"events": batch}).get_json()["results"]
        assert {r["status"] for r in results} == {"accepted"}, results[:2]
        ids += [r["id"] for r in results]

    def committed() -> int:
        return db.execute("SELECT count(*) FROM analytics.events WHERE id = ANY(%s::uuid[])", (ids,)).fetchone()[0]

    at_kill: list[int] = []
    batches = 0

    def kill_after_the_third_commit(_ids: list[bytes]) -> None:
        nonlocal batches
        batches += 1
        if batches == 3:
            at_kill.append(committed())
            cluster.node(victim["port"]).kill()

    rc = RedisCluster.from_url(cluster.url)
    loader_client = open_redis(cluster.url, s)
    failed: Exception | None = None
    try:
        try:
            cfg = loader_config(s, stream, batch_size=50)
            run_load(s.database_url, loader_client, cfg, after_commit=kill_after_the_third_commit)
        except (redis.RedisError, OSError) as exc:
            failed = exc  # a run caught by the failover fails; Airflow retries it, as the DAG run below does
        finally:
            loader_client.close()
        assert at_kill == [150]  # the fault came mid-run: 3 batches of 8 committed, the third not acknowledged
        first_run = committed()
        survivors = [n.port for n in cluster.nodes if n.port != victim["port"]]
        wait_until(
            lambda: role(promoted["port"])["role"] == "master" and all(cluster_ok(p) for p in survivors),
            "the replica to be promoted",
        )
        assert dagbag.get_dag("events_load").test().state == "success"
        inserted, present, reclaimed = db.execute(
            "SELECT inserted, already_present, reclaimed FROM analytics.load_runs WHERE stream = %s "
            "ORDER BY finished_at DESC LIMIT 1",
            (stream,),
        ).fetchone()
        assert inserted == len(ids) - first_run
        if failed is not None:  # (a client that found the promoted master in time would have finished the run)
            # The committed batch whose XACK never landed (and any XACK the replica had not yet received) came back
            # as pending: reclaimed, and already present, so nothing was inserted twice.
            assert reclaimed >= 50 and present >= 50, (reclaimed, present)
        assert stored_once(db, ids) == dict.fromkeys(ids, 1)
        rc.nodes_manager.initialize()  # its slot map predates the failover
        assert all(rc.xlen(st) == 0 for st in load_streams(s))
    finally:
        cluster.node(victim["port"]).start()  # back as the new master's replica, for whatever runs next
        wait_until(
            lambda: role(victim["port"])["master"] == promoted["id"] and cluster.synced(victim["port"]),
            "the old master to rejoin as the new one's replica",
        )
        db.execute("DELETE FROM analytics.events WHERE idempotency_key LIKE %s", (f"{run}-%",))
        db.execute("DELETE FROM analytics.idempotency_keys WHERE idempotency_key LIKE %s", (f"{run}-%",))
        rc.nodes_manager.initialize()
        rc.flushall(target_nodes=RedisCluster.PRIMARIES)
        rc.close()
