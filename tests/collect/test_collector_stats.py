"""analytics.collect.stats: per-minute counters by outcome/reason/source/type, stream health, last load."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from analytics.collect.keys import Keys, stats_bucket
from analytics.collect.stats import collector_counts, collector_summary, collector_timeseries, last_load, stream_health
from analytics.collect.stream import StreamWriter

# Explicit occurredAt: with the server's clock, two posts could straddle a second and not be duplicates.
AT = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()


def _event(**over):
    base = {
        "occurredAt": AT,
        "eventType": "asset_viewed",
        "source": "web",
        "actorId": "usr_001",
        "entityId": "ast_001",
        "entityType": "asset",
        "sessionId": "s-stats",
        "props": {"viewDurationMs": 10},
    }
    base.update(over)
    return base


@pytest.fixture
def keys(settings):
    return Keys(settings.key_prefix, settings.stream_key)


def test_counts_by_outcome_reason_source_and_type(client, settings, redis_client, keys):
    assert client.post("/v1/track", json=_event()).status_code == 202
    assert client.post("/v1/track", json=_event()).status_code == 200  # fingerprint
    assert client.post("/v1/track", json=_event(sessionId="s2", idempotencyKey="k1")).status_code == 202
    assert client.post("/v1/track", json=_event(sessionId="s3", idempotencyKey="k1")).status_code == 200
    assert client.post("/v1/track", json=_event(eventType="nope")).status_code == 422
    assert client.post("/v1/track", json=_event(eventType="page_viewed", props={}, source="api")).status_code == 422

    rows = {(r.outcome, r.reason, r.source, r.event_type): r.count for r in collector_counts(redis_client, keys, 300)}
    assert rows == {
        ("accepted", "", "web", "asset_viewed"): 2,
        ("duplicate", "fingerprint", "web", "asset_viewed"): 1,
        ("duplicate", "idempotency_key", "web", "asset_viewed"): 1,
        ("rejected", "unknown_event_type", "web", ""): 1,
        ("rejected", "props", "api", "page_viewed"): 1,
    }
    summary = collector_summary(redis_client, keys, 300)
    assert summary["totalChecks"] == 4
    assert summary["accepted"] == 2
    assert summary["duplicatesFound"] == 2
    assert summary["duplicatesByReason"] == {"fingerprint": 1, "idempotency_key": 1}
    assert summary["rejected"] == 2
    assert summary["rejectedByReason"] == {"unknown_event_type": 1, "props": 1}
    assert summary["deduplicationRate"] == 0.5
    assert summary["bySource"]["api"] == {"accepted": 0, "duplicate": 0, "rejected": 1}


def test_rejected_items_are_kept_in_the_rejected_stream(client, redis_client, keys):
    resp = client.post(
        "/v1/track/batch",
        json={"events": [_event(), _event(eventType="page_viewed", props={"path": 5}, source="mobile"), 17]},
    )
    assert [r["status"] for r in resp.get_json()["results"]] == ["accepted", "rejected", "rejected"]
    entries = redis_client.xrange(keys.rejected_stream)
    assert len(entries) == 2
    first = {k.decode(): v.decode() for k, v in entries[0][1].items()}
    assert first["stage"] == "collector"
    assert first["reason"] == "props"
    assert first["source"] == "mobile"
    assert first["event_type"] == "page_viewed"
    assert json.loads(first["payload"])["props"] == {"path": 5}
    assert json.loads(first["errors"])[0]["field"] == "props.path"
    assert datetime.fromisoformat(first["rejected_at"]) > datetime.now(UTC) - timedelta(minutes=1)
    second = {k.decode(): v.decode() for k, v in entries[1][1].items()}
    assert (second["payload"], second["reason"], second["event_type"]) == ("17", "schema", "")


def test_rejected_payload_is_bounded(app, redis_client, keys):
    from analytics.collect.events import now_utc

    ingestor = app.extensions["analytics.ingestor"]
    huge = {"eventType": "x" * 10, "source": "web", "blob": "é" * 100_000}
    (result,) = ingestor.ingest([huge], now_utc())
    assert result.status == "rejected"
    (entry,) = redis_client.xrange(keys.rejected_stream)
    assert len(entry[1][b"payload"]) <= 65_536


def test_windows_and_timeseries_use_minute_buckets(redis_client, keys):
    writer = StreamWriter(redis_client, keys)
    now = time.time()
    old = now - 3 * 60
    writer.append([("id-old", "fp-old", "web", None, "{}", "asset_viewed")], now=old)
    writer.append([("id-new", "fp-new", "web", None, "{}", "asset_viewed")], now=now)
    writer.append([("id-dup", "fp-new", "web", None, "{}", "asset_viewed")], now=now)

    assert collector_summary(redis_client, keys, 60, now=now)["accepted"] == 1
    assert collector_summary(redis_client, keys, 600, now=now)["accepted"] == 2
    series = collector_timeseries(redis_client, keys, 5, now=now)
    assert len(series) == 5
    assert [p["accepted"] for p in series] == [0, 1, 0, 0, 1]
    assert series[-1]["duplicate"] == 1
    assert series[-1]["minute"] == datetime.fromtimestamp(stats_bucket(now), UTC).isoformat().replace("+00:00", "Z")


def test_stream_health(redis_client, settings):
    stream, group = settings.stream_key, settings.consumer_group
    empty = stream_health(redis_client, stream, group)
    assert (empty["length"], empty["lag"], empty["pending"], empty["groupExists"]) == (0, 0, 0, False)

    first = redis_client.xadd(stream, {"id": "a", "e": "{}"})
    for i in range(4):
        redis_client.xadd(stream, {"id": str(i), "e": "{}"})
    assert stream_health(redis_client, stream, group)["lag"] == 5  # no group yet: everything is behind

    redis_client.xgroup_create(stream, group, id="0")
    redis_client.xreadgroup(group, "c1", {stream: ">"}, count=2)
    h = stream_health(redis_client, stream, group, now=time.time() + 10)
    assert (h["length"], h["lag"], h["pending"], h["groupExists"]) == (5, 3, 2, True)
    assert h["oldestPendingId"] == first.decode()
    assert 9 <= h["oldestPendingAgeSeconds"] <= 20

    redis_client.xack(stream, group, first)
    assert stream_health(redis_client, stream, group)["pending"] == 1


def test_last_load(db):
    db.execute("DELETE FROM analytics.load_runs")
    assert last_load(db) is None
    t = datetime(2026, 1, 1, 12, tzinfo=UTC)
    for i, finished in enumerate((t, t + timedelta(minutes=1))):
        db.execute(
            "INSERT INTO analytics.load_runs (run_id, started_at, finished_at, entries_read, inserted)"
            " VALUES (%s, %s, %s, %s, %s)",
            (f"run-{i}", finished - timedelta(seconds=2), finished, 10 + i, 9 + i),
        )
    latest = last_load(db)
    assert latest["run_id"] == "run-1"
    assert latest["finished_at"] == t + timedelta(minutes=1)
    assert (latest["entries_read"], latest["inserted"]) == (11, 10)
    db.execute("DELETE FROM analytics.load_runs")
