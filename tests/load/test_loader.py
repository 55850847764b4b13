"""events_load against real Redis and Postgres: exactly-once effect, poison isolation, reclaiming, trimming."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import redis

from analytics.collect.copyrow import stream_fields
from analytics.collect.events import fingerprint, new_event_id, normalise, parse_event
from analytics.load.job import run_load
from analytics.load.tasks import loader_config
from analytics.sql import load_sql


def make_record(i: int, received_at: datetime | None = None, **overrides) -> dict:
    received_at = received_at or datetime.now(UTC)
    event = parse_event(
        {
            "eventType": "asset_viewed",
            "source": "web",
            "actorId": f"usr_{i % 50 + 1:03d}",
            "entityId": f"ast_{i % 100 + 1:03d}",
            "entityType": "asset",
            "sessionId": f"s-{i}",
            "props": {"viewDurationMs": i},
        }
    )
    rec = normalise(event, received_at=received_at, user_agent="pytest", ip_address="10.0.0.1")
    rec["id"] = new_event_id()
    rec["received_at"] = received_at.isoformat().replace("+00:00", "Z")
    rec["fingerprint"] = fingerprint(rec)
    rec.update(overrides)
    return rec


def legacy_fields(rec: dict) -> dict:
    """An entry as collectors before the COPY-line format wrote it: the record as JSON."""
    return {"id": rec["id"], "e": json.dumps(rec, separators=(",", ":"), ensure_ascii=False)}


def add(redis_client, settings, records: list[dict], *, legacy: bool = False) -> list[str]:
    pipe = redis_client.pipeline()
    for rec in records:
        pipe.xadd(settings.stream_key, legacy_fields(rec) if legacy else stream_fields(rec))
    pipe.execute()
    return [r["id"] for r in records]


def stored(db, ids: list[str]) -> list[str]:
    rows = db.execute("SELECT id::text FROM analytics.events WHERE id = ANY(%s::uuid[]) ORDER BY id", (ids,))
    return [r[0] for r in rows]


def load(settings, redis_client, **overrides):
    return run_load(settings.database_url, redis_client, loader_config(settings, **overrides))


def test_dag_loads_n_events_once_and_records_the_run(settings, redis_client, dagbag, db):
    ids = add(redis_client, settings, [make_record(i) for i in range(250)])
    run = dagbag.get_dag("events_load").test(run_conf={"batch_size": 100})
    assert run.state == "success"
    assert stored(db, ids) == sorted(ids)
    assert redis_client.xpending(settings.stream_key, settings.consumer_group)["pending"] == 0
    assert redis_client.xlen(settings.stream_key) == 0  # all acknowledged, so all trimmed
    last = db.execute(
        "SELECT entries_read, inserted, already_present, rejected, batches, lag_left, pending_left, watermark"
        " FROM analytics.load_runs WHERE run_id = %s",
        (run.run_id,),
    ).fetchone()
    assert last[:7] == (250, 250, 0, 0, 3, 0, 0)
    assert last[7] is not None


def test_the_same_entries_delivered_twice_insert_nothing_twice(settings, redis_client, db):
    records = [make_record(i) for i in range(40)]
    ids = add(redis_client, settings, records)
    first = load(settings, redis_client)
    # The same entries again (acknowledged ones are trimmed, so re-append them, as a restored backup would).
    add(redis_client, settings, records)
    second = load(settings, redis_client)
    assert (first.inserted, second.entries_read, second.inserted, second.already_present) == (40, 40, 0, 40)
    assert stored(db, ids) == sorted(ids)


def test_crash_after_commit_before_ack_reloads_nothing_twice(settings, redis_client, dagbag, db):
    ids = add(redis_client, settings, [make_record(i) for i in range(30)])

    def crash(acked_ids):
        raise RuntimeError("killed between COPY commit and XACK")

    with pytest.raises(RuntimeError, match="between COPY commit and XACK"):
        run_load(settings.database_url, redis_client, loader_config(settings, batch_size=10), after_commit=crash)
    assert len(stored(db, ids)) == 10  # the first batch committed…
    pending = redis_client.xpending(settings.stream_key, settings.consumer_group)
    # …but was never acknowledged; the batch read ahead meanwhile is pending too (nothing read is lost).
    assert pending["pending"] == 20

    run = dagbag.get_dag("events_load").test()
    assert run.state == "success"
    assert stored(db, ids) == sorted(ids)
    n = db.execute("SELECT count(*) FROM analytics.events WHERE id = ANY(%s::uuid[])", (ids,)).fetchone()[0]
    assert n == 30
    row = db.execute(
        "SELECT entries_read, inserted, already_present, reclaimed FROM analytics.load_runs WHERE run_id = %s",
        (run.run_id,),
    ).fetchone()
    assert row == (30, 20, 10, 20)
    assert redis_client.xpending(settings.stream_key, settings.consumer_group)["pending"] == 0


def test_own_pending_entries_over_several_batches_are_each_read_once(settings, redis_client, db):
    ids = add(redis_client, settings, [make_record(i) for i in range(30)])

    def crash(acked_ids):
        raise RuntimeError("killed between COPY commit and XACK")

    cfg = loader_config(settings, batch_size=10, consumer="worker-1")
    with pytest.raises(RuntimeError):
        run_load(settings.database_url, redis_client, cfg, after_commit=crash)

    # The same consumer restarts: its 20 pending entries come back 5 at a time, each batch acknowledged
    # before the next read of its pending list, so none is read (or counted) twice — however slow XACK is.
    class SlowAck(redis.Redis):
        def xack(self, *args):
            time.sleep(0.2)
            return super().xack(*args)

    slow = SlowAck(connection_pool=redis_client.connection_pool)
    stats = load(settings, slow, batch_size=5, consumer="worker-1")
    assert (stats.entries_read, stats.inserted, stats.already_present, stats.reclaimed) == (30, 20, 10, 20)
    assert stored(db, ids) == sorted(ids)


def test_pending_entries_of_a_dead_consumer_are_reclaimed(settings, redis_client, db):
    ids = add(redis_client, settings, [make_record(i) for i in range(12)])
    redis_client.xgroup_create(settings.stream_key, settings.consumer_group, id="0")
    redis_client.xreadgroup(settings.consumer_group, "dead-worker", {settings.stream_key: ">"}, count=5)

    stats = load(settings, redis_client, reclaim_idle_ms=0)
    assert (stats.reclaimed, stats.entries_read, stats.inserted) == (5, 12, 12)
    assert stored(db, ids) == sorted(ids)
    assert redis_client.xpending(settings.stream_key, settings.consumer_group)["pending"] == 0


def test_entries_pending_below_the_idle_threshold_are_left_to_their_consumer(settings, redis_client, db):
    ids = add(redis_client, settings, [make_record(i) for i in range(4)])
    redis_client.xgroup_create(settings.stream_key, settings.consumer_group, id="0")
    redis_client.xreadgroup(settings.consumer_group, "busy-worker", {settings.stream_key: ">"}, count=1)
    stats = load(settings, redis_client, reclaim_idle_ms=600_000)
    assert (stats.reclaimed, stats.inserted, stats.pending_left) == (0, 3, 1)
    assert stored(db, ids) == sorted(ids[1:])
    # The watermark stays below the entry still in flight.
    pending_ms = int(redis_client.xpending(settings.stream_key, settings.consumer_group)["min"].split(b"-")[0])
    assert stats.watermark <= datetime.fromtimestamp(pending_ms / 1000, UTC) - timedelta(
        seconds=settings.watermark_margin_seconds
    )


def test_poison_entries_are_rejected_with_reason_and_the_rest_loads(settings, redis_client, dagbag, db):
    good = [make_record(i) for i in range(20)]
    line = stream_fields(make_record(95))["r"]
    keyed = stream_fields(make_record(98, idempotency_key="order-9"))
    bad = {
        # legacy entries (the record as JSON)
        "not_json": ({"id": new_event_id(), "e": "{not json"}, "unparseable"),
        "array": ({"id": new_event_id(), "e": "[1, 2]"}, "unparseable"),
        "no_payload": ({"id": new_event_id()}, "unparseable"),
        "legacy_bad_ip": (legacy_fields(make_record(96, ip_address="999.1.1.1")), "invalid"),
        "object_actor": (legacy_fields(make_record(93, actor_id={"x": 1})), "invalid"),
        "nul_in_props": (legacy_fields(make_record(94, props={"q": "a\u0000b"})), "invalid"),
        "nul_in_text": (legacy_fields(make_record(97, session_id="a\u0000b")), "invalid"),
        # COPY lines
        "bad_time": (stream_fields(make_record(90, occurred_at="yesterday-ish")), "invalid"),
        "bad_ip": (stream_fields(make_record(91, ip_address="999.1.1.1")), "invalid"),
        "no_source": (stream_fields(make_record(92, source=None)), "invalid"),
        "short_line": ({"id": new_event_id(), "r": line.rsplit(b"\t", 1)[0]}, "invalid"),
        "long_line": ({"id": new_event_id(), "r": line + b"\tx"}, "invalid"),
        "not_utf8": ({"id": new_event_id(), "r": line.replace(b"pytest", b"py\xfftest")}, "invalid"),
        "nul_byte": ({"id": new_event_id(), "r": line.replace(b"pytest", b"py\x00test")}, "invalid"),
        "end_marker": ({"id": new_event_id(), "r": line.replace(b"pytest", b"\\.")}, "invalid"),
        "keyed_not_utf8": ({**keyed, "r": keyed["r"].replace(b"order-9", b"order-\xff")}, "invalid"),
        "keyed_short": ({**keyed, "r": keyed["r"].rsplit(b"\t", 5)[0]}, "invalid"),
        # a raw newline could smuggle a second row past COPY: refused before COPY sees it
        "two_rows": ({"id": new_event_id(), "r": line + b"\t1-1\n" + line}, "unparseable"),
        "raw_cr": ({"id": new_event_id(), "r": line.replace(b"pytest", b"py\rtest")}, "unparseable"),
    }
    add(redis_client, settings, good)
    sids = {}
    for name, (fields, _) in bad.items():
        sids[name] = redis_client.xadd(settings.stream_key, fields).decode()
    more = [make_record(100 + i) for i in range(5)]
    add(redis_client, settings, more)

    run = dagbag.get_dag("events_load").test(run_conf={"batch_size": 1000})
    assert run.state == "success"
    ids = [r["id"] for r in good + more]
    assert stored(db, ids) == sorted(ids)
    rows = dict(
        db.execute(
            "SELECT stream_id, reason FROM analytics.rejected_events WHERE stage = 'loader' AND stream_id = ANY(%s)",
            (list(sids.values()),),
        ).fetchall()
    )
    assert {name: rows.get(sid) for name, sid in sids.items()} == {name: r for name, (_, r) in bad.items()}
    for name in ("bad_ip", "legacy_bad_ip"):
        detail = db.execute(
            "SELECT detail->>'error', payload, source, event_type FROM analytics.rejected_events WHERE stream_id = %s",
            (sids[name],),
        ).fetchone()
        assert "inet" in detail[0] and "999.1.1.1" in detail[1] and detail[2:] == ("web", "asset_viewed")
    # The raw entry is kept: the COPY line as the stream held it.
    payload = db.execute("SELECT payload FROM analytics.rejected_events WHERE stream_id = %s", (sids["short_line"],))
    assert payload.fetchone()[0] == line.rsplit(b"\t", 1)[0].decode()
    assert redis_client.xpending(settings.stream_key, settings.consumer_group)["pending"] == 0


def test_an_idempotency_key_holds_after_redis_forgot_it(settings, redis_client, db):
    first = make_record(1, idempotency_key="order-42")
    add(redis_client, settings, [first])
    load(settings, redis_client)
    # An hour later the Redis key is gone and the client retries: a new id, the same key.
    retry = make_record(2, idempotency_key="order-42")
    twin_a, twin_b = make_record(3, idempotency_key="cart-7"), make_record(4, idempotency_key="cart-7")
    # An id in a non-canonical spelling still owns its key (compared as a uuid, not as text).
    loud = make_record(5, idempotency_key="loud-1")
    loud["id"] = loud["id"].upper()
    add(redis_client, settings, [retry, twin_a, twin_b, loud])
    stats = load(settings, redis_client)
    assert stored(db, [first["id"], retry["id"]]) == [first["id"]]
    assert len(stored(db, [twin_a["id"], twin_b["id"]])) == 1
    assert stored(db, [loud["id"]]) == [loud["id"].lower()]
    assert (stats.inserted, stats.already_present) == (2, 2)
    # The two events not stored are accounted for (the monitor's check_counts), each with the event holding its key.
    kept_twin = stored(db, [twin_a["id"], twin_b["id"]])[0]
    lost_twin = twin_b["id"] if kept_twin == twin_a["id"] else twin_a["id"]
    assert dropped(db, [retry["id"], twin_a["id"], twin_b["id"]]) == sorted(
        [(retry["id"], "order-42", first["id"]), (lost_twin, "cart-7", kept_twin)]
    )


def dropped(db, ids: list[str]) -> list[tuple[str, str, str]]:
    rows = db.execute(
        "SELECT id::text, idempotency_key, kept_id::text FROM analytics.dropped_events "
        "WHERE reason = 'idempotency_key' AND id = ANY(%s::uuid[]) ORDER BY id",
        (ids,),
    )
    return [tuple(r) for r in rows]


def test_events_dropped_for_their_key_on_the_staged_path_are_recorded_once(settings, redis_client, db):
    """A batch taken through the staging table (a replay after a crash, or one holding a bad row) drops the same
    events for their keys, records them, and records nothing twice when it is loaded again."""
    from analytics.db import connect
    from analytics.load.job import LoadStats, load_batch

    owner = make_record(11, idempotency_key="staged-1")
    add(redis_client, settings, [owner])
    load(settings, redis_client)
    retry, fresh = make_record(12, idempotency_key="staged-1"), make_record(13, idempotency_key="staged-2")
    add(redis_client, settings, [retry, fresh])
    entries = redis_client.xrange(settings.stream_key, count=10)[-2:]
    with connect(settings.database_url) as conn:
        conn.execute(load_sql("load/create_stage"))
        for _ in range(2):  # the second time is the replay
            load_batch(conn, entries, LoadStats(), fresh=False)
            conn.commit()
    assert stored(db, [retry["id"], fresh["id"]]) == [fresh["id"]]
    assert dropped(db, [retry["id"], fresh["id"]]) == [(retry["id"], "staged-1", owner["id"])]


def test_collector_rejections_are_copied_once(settings, redis_client, db):
    from analytics.collect.keys import Keys

    stream = Keys(settings.key_prefix, settings.stream_key).rejected_stream
    for i, stage in enumerate(("collector", "segment")):
        redis_client.xadd(
            stream,
            {
                "payload": json.dumps({"eventType": "nope", "n": i}),
                "reason": "unknown_event_type",
                "errors": json.dumps([{"field": "eventType", "rule": "registered", "message": "unknown"}]),
                "source": "web",
                "event_type": "nope",
                "stage": stage,
                "rejected_at": "2026-05-01T10:00:00.000000Z",
            },
        )
    sids = [sid.decode() for sid, _ in redis_client.xrange(stream)]
    first = load(settings, redis_client)
    redis_client.xgroup_setid(stream, settings.consumer_group, "0")  # replay: still one row each
    load(settings, redis_client)
    rows = db.execute(
        "SELECT stage, reason, detail->0->>'field', rejected_at FROM analytics.rejected_events"
        " WHERE stream_id = ANY(%s) ORDER BY stream_id",
        (sids,),
    ).fetchall()
    at = datetime(2026, 5, 1, 10, tzinfo=UTC)
    assert first.collector_rejections == 2
    assert rows == [("collector", "unknown_event_type", None, at), ("segment", "unknown_event_type", None, at)]
    detail = db.execute("SELECT detail FROM analytics.rejected_events WHERE stream_id = %s", (sids[0],)).fetchone()
    assert detail[0]["errors"][0]["field"] == "eventType"
    assert redis_client.xlen(stream) == 0


def test_trimming_never_removes_an_entry_some_group_still_needs(settings, redis_client, db):
    stream, ours, other = settings.stream_key, settings.consumer_group, "archiver"
    sids = [redis_client.xadd(stream, stream_fields(r)) for r in (make_record(i) for i in range(10))]
    redis_client.xgroup_create(stream, other, id="0")
    read = redis_client.xreadgroup(other, "a1", {stream: ">"}, count=6)[0][1]
    redis_client.xack(stream, other, *[sid for sid, _ in read[:3]])  # 3 acked, 3 pending, 4 undelivered
    stats = load(settings, redis_client)
    assert stats.inserted == 10
    assert [sid for sid, _ in redis_client.xrange(stream)] == sids[3:]
    assert stats.trimmed == 3

    # Our own group behind the other one: the bound is ours.
    redis_client.xack(stream, other, *[sid for sid, _ in read[3:]])
    redis_client.xreadgroup(other, "a1", {stream: ">"})
    redis_client.xack(stream, other, *sids[6:])
    newer = [redis_client.xadd(stream, stream_fields(r)) for r in (make_record(i) for i in range(3))]
    redis_client.xreadgroup(ours, "dead", {stream: ">"}, count=1)  # pending in our group, left by a dead consumer
    from analytics.load.stream_reader import trim_acknowledged

    trim_acknowledged(redis_client, stream)
    assert [sid for sid, _ in redis_client.xrange(stream)] == newer


def test_follow_mode_loads_events_that_arrive_during_the_run(settings, redis_client, db):
    """An event added only once the run is blocked waiting on the empty stream is loaded by that same run; the
    run then ends at follow_s, not at its (far longer) time budget."""
    import threading
    import uuid

    name = f"follow-{uuid.uuid4().hex[:8]}"
    loader_client = redis.Redis.from_url(settings.redis_url, client_name=name)
    rec = make_record(7)
    added, done = threading.Event(), threading.Event()

    def add_once_the_loader_waits() -> None:
        while not done.is_set():
            if any(
                c["name"] == name and c["cmd"] == "xreadgroup" and "b" in c["flags"] for c in redis_client.client_list()
            ):
                add(redis_client, settings, [rec])
                added.set()
                return
            time.sleep(0.01)

    adder = threading.Thread(target=add_once_the_loader_waits)
    adder.start()
    out: list = []
    runner = threading.Thread(
        target=lambda: out.append(load(settings, loader_client, follow_s=1.5, time_budget_s=120.0, block_ms=200))
    )
    runner.start()
    runner.join(60)  # a guard against hanging, not a measurement: the run follows for 1.5 s of its 120 s budget
    done.set()
    adder.join()
    loader_client.close()
    assert not runner.is_alive(), "the run followed to its time budget, not to follow_s"
    assert added.is_set()  # the event came while the run was waiting for new ones
    (stats,) = out
    assert stats.inserted == 1 and stored(db, [rec["id"]]) == [rec["id"]]


@pytest.mark.parametrize("protocol", [2, 3])
def test_new_entries_are_read_raw_on_either_protocol(settings, protocol):
    from analytics.load.stream_reader import _RawReader, as_dict

    client = redis.Redis.from_url(settings.redis_url, protocol=protocol)
    stream = settings.stream_key
    rec = make_record(1, idempotency_key="raw-1")
    client.xadd(stream, stream_fields(rec))
    client.xgroup_create(stream, settings.consumer_group, id="0")
    with _RawReader(client, ("XREADGROUP", "GROUP", settings.consumer_group, "c", "COUNT", 10), stream) as reader:
        ((_, fields),) = reader.read(None)
        assert reader.read(20) == []  # BLOCK ran out: nothing new
    assert as_dict(fields) == {
        k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in stream_fields(rec).items()
    }
    client.close()
