"""One bad input never stops loading: poison rejections and every per-row error class PostgreSQL raises."""

from __future__ import annotations

import json
import secrets

import pytest

from analytics.collect.copyrow import stream_fields
from analytics.collect.events import new_event_id
from analytics.collect.keys import Keys
from tests.load.test_loader import add, load, make_record, stored


@pytest.fixture(autouse=True)
def _forget_rejections(settings, db):
    """The rejections these tests keep are poison on purpose (one is dated in the year 10000, which psycopg cannot
    read back): later tests that read analytics.rejected_events must not meet them."""
    yield
    db.execute("DELETE FROM analytics.rejected_events WHERE stream LIKE %s", (f"{settings.key_prefix}:%",))


def rejected_stream(settings) -> str:
    return Keys(settings.key_prefix, settings.stream_key).rejected_stream


def test_a_nul_key_posted_to_the_collector_stops_nothing(client, settings, redis_client, dagbag, db):
    poison = client.post("/v1/track", data=b'{"bad\\u0000key": 1}', content_type="application/json")
    assert poison.status_code == 400
    assert redis_client.xlen(rejected_stream(settings)) == 1
    good = client.post(
        "/v1/track", json={"eventType": "page_viewed", "source": "web", "actorId": "usr_001", "props": {"path": "/"}}
    )
    assert good.status_code == 202

    for _ in range(2):  # the second run finds the stream drained and the rejection kept once
        run = dagbag.get_dag("events_load").test(run_conf={"batch_size": 100})
        assert run.state == "success"
    assert stored(db, [good.get_json()["id"]]) == [good.get_json()["id"]]
    sid = redis_client.xrange(rejected_stream(settings))  # trimmed once copied
    assert sid == []
    rows = db.execute(
        "SELECT stage, reason, detail FROM analytics.rejected_events WHERE stage = 'collector'"
        " AND detail->>'detail_text' LIKE %s",
        ("%bad\\\\u0000key%",),
    ).fetchall()
    assert len(rows) == 1
    stage, reason, detail = rows[0]
    assert (stage, reason) == ("collector", "schema")
    assert "UntranslatableCharacter" in detail["unstorable"]


def _collector_rejection(**overrides) -> dict:
    fields = {
        "payload": '{"eventType": "nope"}',
        "reason": "unknown_event_type",
        "errors": json.dumps([{"field": "eventType", "rule": "registered", "message": "unknown"}]),
        "source": "web",
        "event_type": "nope",
        "stage": "collector",
        "rejected_at": "2026-05-01T10:00:00.000000Z",
    }
    return {**fields, **overrides}


POISON_REJECTIONS = {
    "nul_escape_in_errors": _collector_rejection(errors='[{"field": "a\\u0000b", "message": "x"}]'),
    "lone_surrogate_in_errors": _collector_rejection(errors='[{"field": "\\ud800", "message": "x"}]'),
    "huge_stage": _collector_rejection(stage="s" * 20),  # kept under detail.stage, stage collector
    "huge_reason": _collector_rejection(reason=secrets.token_hex(6000)),
    "year_beyond_postgres": _collector_rejection(rejected_at="9999-12-31T23:59:59-23:59"),
    "raw_nul_everywhere": _collector_rejection(payload="a\x00b", source="w\x00b", errors="not json\x00"),
}


def test_every_poison_rejection_is_kept_and_the_events_behind_it_load(settings, redis_client, db):
    stream = rejected_stream(settings)
    sids = {name: redis_client.xadd(stream, fields).decode() for name, fields in POISON_REJECTIONS.items()}
    fine = redis_client.xadd(stream, _collector_rejection()).decode()
    records = [make_record(i) for i in range(30)]
    add(redis_client, settings, records)

    stats = load(settings, redis_client)
    ids = [r["id"] for r in records]
    assert stored(db, ids) == sorted(ids)
    assert stats.collector_rejections == len(sids) + 1
    kept = dict(
        db.execute(
            "SELECT stream_id, reason FROM analytics.rejected_events WHERE stream_id = ANY(%s)",
            ([*sids.values(), fine],),
        ).fetchall()
    )
    assert set(kept) == {*sids.values(), fine}
    assert kept[fine] == "unknown_event_type"
    assert redis_client.xpending(stream, settings.consumer_group)["pending"] == 0


def test_collector_rejections_wait_behind_the_events_not_in_front(settings, redis_client, db, monkeypatch):
    """A rejection copy that fails outright (not a row error) fails the run only after the events loaded."""
    from analytics.load import rejections as loader_rejections

    def broken(*args, **kwargs):
        raise RuntimeError("the rejections step broke")

    monkeypatch.setattr(loader_rejections, "insert_rejections", broken)
    redis_client.xadd(rejected_stream(settings), _collector_rejection())
    records = [make_record(i) for i in range(10)]
    add(redis_client, settings, records)
    with pytest.raises(RuntimeError, match="rejections step"):
        load(settings, redis_client)
    ids = [r["id"] for r in records]
    assert stored(db, ids) == sorted(ids)
    assert redis_client.xpending(settings.stream_key, settings.consumer_group)["pending"] == 0


def _line(**overrides) -> bytes:
    return stream_fields(make_record(7, **overrides))["r"]


# One entry per class of error PostgreSQL raises for a row's content; each is set aside, the rest loads.
ROW_ERROR_CLASSES = {
    # class 22, data exceptions
    "invalid_text_representation": ({"id": new_event_id(), "r": _line(id="not-a-uuid")}, "invalid input syntax"),
    "datetime_field_overflow": ({"id": new_event_id(), "r": _line(occurred_at="2026-13-45T00:00:00Z")}, "out of range"),
    "invalid_inet": ({"id": new_event_id(), "r": _line(ip_address="not-an-ip")}, "inet"),
    "untranslatable_character": (
        {"id": new_event_id(), "r": _line().replace(b'{"viewDurationMs":7}', b'{"a\\\\u0000":1}')},
        "Unicode escape",
    ),
    "bad_copy_format": ({"id": new_event_id(), "r": _line() + b"\textra"}, "extra data"),
    # class 23, integrity constraint violations
    "not_null_violation": ({"id": new_event_id(), "r": _line(event_type=None)}, "null value"),
    # class 54, program limits: a key past the btree's size limit (random, so it does not compress)
    "program_limit_exceeded": ({"id": new_event_id(), "r": _line(actor_id=secrets.token_hex(6000))}, "index row"),
}


@pytest.mark.parametrize("fresh", [True, False], ids=["direct_copy", "staged"])
def test_every_row_error_class_is_isolated_and_the_rest_loads(settings, redis_client, db, fresh):
    before = [make_record(i) for i in range(10)]
    after = [make_record(100 + i) for i in range(10)]
    add(redis_client, settings, before)
    sids = {
        name: redis_client.xadd(settings.stream_key, fields).decode() for name, (fields, _) in ROW_ERROR_CLASSES.items()
    }
    add(redis_client, settings, after)
    if not fresh:  # delivered once to a consumer that died: read back as pending, through the staged path
        redis_client.xgroup_create(settings.stream_key, settings.consumer_group, id="0")
        redis_client.xreadgroup(settings.consumer_group, "dead", {settings.stream_key: ">"}, count=1000)
        stats = load(settings, redis_client, consumer="dead")
    else:
        stats = load(settings, redis_client)

    ids = [r["id"] for r in before + after]
    assert stored(db, ids) == sorted(ids)
    assert stats.rejected == len(sids)
    rows = dict(
        db.execute(
            "SELECT stream_id, detail->>'error' FROM analytics.rejected_events WHERE stage = 'loader'"
            " AND stream_id = ANY(%s)",
            (list(sids.values()),),
        ).fetchall()
    )
    for name, (_, words) in ROW_ERROR_CLASSES.items():
        assert words in (rows.get(sids[name]) or ""), (name, rows.get(sids[name]))
    assert redis_client.xpending(settings.stream_key, settings.consumer_group)["pending"] == 0
