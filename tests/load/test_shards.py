"""ANALYTICS_STREAM_SHARDS=4 on the shared Redis: routing, dedupe across retries, and exactly-once loading per shard."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from analytics.collect.copyrow import entry_record
from analytics.collect.keys import Keys
from analytics.config import Settings
from analytics.load.job import run_load
from analytics.load.tasks import load_streams, loader_config
from analytics.load.watermark import loader_watermark

SHARDS = 4
# A fixed occurrence second: the fingerprint holds it, so a double-fire sent a moment later still matches.
AT = (datetime.now(UTC) - timedelta(minutes=1)).isoformat().replace("+00:00", "Z")


@pytest.fixture
def sharded(settings, monkeypatch):
    """The test's settings with 4 shards, exported so DAG tasks see them too (keys share the test's prefix)."""
    monkeypatch.setenv("ANALYTICS_STREAM_SHARDS", str(SHARDS))
    return Settings.from_env()


@pytest.fixture
def sharded_client(sharded):
    from ingest_api import create_app

    app = create_app(sharded)
    app.config["TESTING"] = True
    return app.test_client()


def ev(actor: str | None, seq: int, **over) -> dict:
    base = {
        "eventType": "asset_viewed",
        "source": "web",
        "actorId": actor,
        "entityId": "ast_001",
        "entityType": "asset",
        "sessionId": None if actor is None else f"s-{actor}",
        "props": {"viewDurationMs": seq},
        "occurredAt": AT,
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def shard_entries(redis_client, keys: Keys) -> dict[str, list[dict]]:
    return {k.stream: [entry_record(f) for _, f in redis_client.xrange(k.stream)] for k in keys.shard_keys}


def stored_once(db, ids: list[str]) -> dict[str, int]:
    rows = db.execute(
        "SELECT id::text, count(*) FROM analytics.events WHERE id = ANY(%s::uuid[]) GROUP BY id", (ids,)
    ).fetchall()
    return dict(rows)


def send_actors(client, actors: int, per_actor: int) -> list[str]:
    """Interleaved batches (each event of every actor in turn), so per-actor order is the stream's to keep."""
    ids = []
    for seq in range(per_actor):
        batch = [ev(f"usr_{a + 1:03d}", seq) for a in range(actors)]
        resp = client.post("/v1/track/batch", json={"events": batch})
        assert resp.status_code in (200, 202, 207), resp.get_json()
        results = resp.get_json()["results"]
        assert [r["status"] for r in results] == ["accepted"] * actors
        ids += [r["id"] for r in results]
    return ids


def test_events_spread_over_shards_in_per_actor_order_and_duplicates_are_caught(sharded, sharded_client, redis_client):
    keys = Keys.from_settings(sharded)
    send_actors(sharded_client, actors=20, per_actor=3)
    entries = shard_entries(redis_client, keys)
    assert all(s.endswith(f":{{{n}}}") for n, s in enumerate(entries))  # the hash tag names the shard
    assert sum(1 for rows in entries.values() if rows) >= 3  # 20 actors over 4 shards
    assert not redis_client.exists(sharded.stream_key)  # nothing goes to the unsharded stream any more
    for rows in entries.values():
        seqs: dict[str, list[int]] = defaultdict(list)
        for r in rows:
            seqs[r["actor_id"]].append(r["props"]["viewDurationMs"])
        assert all(s == sorted(s) for s in seqs.values())
    homes = {r["actor_id"]: s for s, rows in entries.items() for r in rows}
    assert all(sum(1 for r in rows if homes[r["actor_id"]] != s) == 0 for s, rows in entries.items())

    # A double-fired event (fingerprint) and a keyed retry without actor or session (its event id is new each
    # time, so it must be routed by its key to meet its first copy).
    again = sharded_client.post("/v1/track/batch", json={"events": [ev("usr_001", 0)]}).get_json()["results"]
    assert again[0]["status"] == "duplicate" and again[0]["reason"] == "fingerprint"
    for n in range(8):
        keyed = ev(None, 100 + n, idempotencyKey=f"retry-{n}")
        first = sharded_client.post("/v1/track", json=keyed).get_json()
        retry = sharded_client.post("/v1/track", json=keyed).get_json()
        assert first["status"] == "accepted"
        assert (retry["status"], retry["reason"], retry["id"]) == ("duplicate", "idempotency_key", first["id"])

    stats = sharded_client.get("/v1/admin/stats", headers={"Authorization": "Bearer test-admin-token"}).get_json()
    assert stats["windows"]["1h"]["accepted"] == 68 and stats["windows"]["1h"]["duplicatesFound"] == 9
    assert [s["stream"] for s in stats["shards"]] == load_streams(sharded)
    assert sum(s["length"] for s in stats["shards"]) == 68


def test_unknown_references_are_rejected_before_any_shard_is_written(sharded, sharded_client, redis_client):
    batch = [ev("usr_001", 1), ev("usr_002", 1, entityId="ast_nope"), ev("usr_003", 1)]
    results = sharded_client.post("/v1/track/batch", json={"events": batch}).get_json()["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected", "accepted"]
    assert results[1]["reason"] == "reference"
    entries = shard_entries(redis_client, Keys.from_settings(sharded))
    assert sorted(r["id"] for rows in entries.values() for r in rows) == sorted([results[0]["id"], results[2]["id"]])


def test_events_load_maps_one_loader_per_shard_and_loads_every_event_once(
    sharded, sharded_client, redis_client, dagbag, db
):
    ids = send_actors(sharded_client, actors=30, per_actor=4)
    # Data written before sharding (the unsharded stream) is still drained.
    legacy = sharded.with_overrides(stream_shards=1)
    from ingest_api import create_app

    old = create_app(legacy).test_client().post("/v1/track", json=ev("usr_031", 9)).get_json()
    ids.append(old["id"])
    run = dagbag.get_dag("events_load").test()
    assert run.state == "success"
    assert stored_once(db, ids) == dict.fromkeys(ids, 1)
    rows = db.execute("SELECT stream, inserted FROM analytics.load_runs WHERE run_id = %s", (run.run_id,)).fetchall()
    assert sorted(s for s, _ in rows) == sorted(load_streams(sharded))
    assert sum(n for _, n in rows) == len(ids)
    assert loader_watermark(db, sharded) is not None
    for k in Keys.from_settings(sharded).loaded_keys:
        assert redis_client.xlen(k.stream) == 0  # acknowledged, so trimmed


def test_a_loader_killed_mid_run_loses_and_doubles_nothing(sharded, sharded_client, redis_client, dagbag, db):
    ids = send_actors(sharded_client, actors=40, per_actor=5)
    streams = load_streams(sharded)
    victim = max(streams[:SHARDS], key=redis_client.xlen)

    def crash(acked_ids):
        raise RuntimeError("killed between COPY commit and XACK")

    done = 0
    for stream in streams:
        cfg = loader_config(sharded, stream, batch_size=10)
        if stream == victim:
            with pytest.raises(RuntimeError, match="between COPY commit and XACK"):
                run_load(sharded.database_url, redis_client, cfg, after_commit=crash)
        else:
            done += run_load(sharded.database_url, redis_client, cfg).inserted
    assert redis_client.xpending(victim, sharded.consumer_group)["pending"] > 0  # committed, never acknowledged
    assert len(stored_once(db, ids)) == done + 10  # the victim's first batch committed

    run = dagbag.get_dag("events_load").test()
    assert run.state == "success"
    assert stored_once(db, ids) == dict.fromkeys(ids, 1)
    for stream in streams:
        assert redis_client.xpending(stream, sharded.consumer_group)["pending"] == 0


def test_the_watermark_is_the_lowest_over_the_streams(sharded, db):
    streams = load_streams(sharded)
    db.execute("DELETE FROM analytics.load_runs")
    insert = (
        "INSERT INTO analytics.load_runs (run_id, stream, started_at, finished_at, watermark)"
        " VALUES ('wm', %s, now(), now(), %s::timestamptz)"
    )
    for n, stream in enumerate(streams[:-1]):
        db.execute(insert, (stream, f"2026-01-01 00:0{n}:00+00"))
    assert loader_watermark(db, sharded) is None  # one stream never loaded: nothing is promised
    db.execute(insert, (streams[-1], "2026-01-01 00:30:00+00"))
    db.execute(insert, (streams[0], "2026-01-01 00:02:30+00"))  # a later run of the lowest stream
    assert loader_watermark(db, sharded).isoformat() == "2026-01-01T00:01:00+00:00"
    db.execute("DELETE FROM analytics.load_runs WHERE run_id = 'wm'")


def test_monitor_and_dashboard_show_lag_per_shard(sharded, sharded_client, redis_client):
    from analytics.monitor.checks import Report, check_stream
    from analytics.monitor.dashboard import stream_section

    send_actors(sharded_client, actors=12, per_actor=1)
    s = sharded.with_overrides(monitor_lag_max=0)
    report = Report()
    check_stream(report, redis_client, s, datetime.now(UTC))
    lengths = {st: redis_client.xlen(st) for st in load_streams(s)}
    assert {h["stream"]: h["lag"] for h in report.figures["streams"]} == lengths
    assert report.figures["stream"]["lag"] == 12
    lagging = sorted(a.alert_key for a in report.findings if a.kind == "monitor.stream_lag")
    assert lagging == sorted(f"monitor.stream_lag:{st}" for st, n in lengths.items() if n)
    section = stream_section(redis_client, s, datetime.now(UTC))
    assert [h["lag"] for h in section["shards"]] == list(lengths.values()) and section["lagAboveThreshold"]


def test_routing_is_pinned():
    """crc32 of actor, else session, else source:key, else id: changing it moves actors between shards, and their
    duplicates in flight would no longer meet. Pinned values (zlib.crc32, the same in every process)."""
    from analytics.collect.shards import shard_of
    from analytics.collect.stream import Item

    items = [
        Item("id-1", None, "web", "k-1", b"", route="usr_001"),  # the actor wins over the key
        Item("id-2", None, "web", "k-1", b""),  # no actor or session: the key (a retry has a new id)
        Item("id-3", None, "web", None, b""),
        Item("id-4", None, "web", None, b"", route="s-9"),
    ]
    assert [shard_of(i, 4) for i in items] == [3, 2, 0, 0]


def test_set_aside_entries_of_two_shards_with_one_stream_id_are_both_kept(sharded, redis_client, db):
    """Stream ids are per stream: two shards appending in the same millisecond give the same id. The loader's
    rejections were unique on (stage, stream id), so the second shard's entry set aside at that id was lost (and
    events_missing paged for it); the same for the shards' collector rejections. Now (stage, stream, stream id)."""
    keys = Keys.from_settings(sharded)
    sid = f"{int(datetime.now(UTC).timestamp() * 1000)}-7"
    rejection = {"payload": "{}", "reason": "unknown_event_type", "errors": "[]", "stage": "collector"}
    shards = keys.shard_keys[:2]
    for k in shards:
        redis_client.xadd(k.stream, {"e": "{not json"}, id=sid)  # can never load: set aside by the loader
        redis_client.xadd(k.rejected_stream, rejection, id=sid)
    try:
        for stream in load_streams(sharded):
            run_load(sharded.database_url, redis_client, loader_config(sharded, stream, time_budget_s=5.0))
        kept = db.execute(
            "SELECT stage, stream FROM analytics.rejected_events WHERE stream_id = %s ORDER BY 1, 2", (sid,)
        ).fetchall()
        expected = [("collector", k.rejected_stream) for k in shards] + [("loader", k.stream) for k in shards]
        assert kept == sorted(expected)
    finally:
        db.execute("DELETE FROM analytics.rejected_events WHERE stream_id = %s", (sid,))
