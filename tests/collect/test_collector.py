"""The collector over HTTP (Flask test client), against real Redis and Postgres."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from analytics.collect.copyrow import entry_record
from analytics.collect.keys import Keys


def ev(**over):
    base = {
        "eventType": "asset_viewed",
        "source": "web",
        "actorId": "usr_001",
        "entityId": "ast_001",
        "entityType": "asset",
        "sessionId": "s-1",
        "props": {"viewDurationMs": 1500},
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def stream_records(redis_client, settings) -> list[dict]:
    return [entry_record(fields) for _, fields in redis_client.xrange(settings.stream_key)]


def rejected_entries(redis_client, settings) -> list[dict]:
    keys = Keys(settings.key_prefix, settings.stream_key)
    return [{k.decode(): v.decode() for k, v in f.items()} for _, f in redis_client.xrange(keys.rejected_stream)]


# --- accept, record shape ---------------------------------------------------------------------------------


def test_track_accepts_and_appends_the_normalised_record(client, settings, redis_client):
    resp = client.post(
        "/v1/track",
        json=ev(attribution={"utmSource": "news", "referrer": "https://ex.com/"}, idempotencyKey="k-1"),
        headers={"User-Agent": "UA/1.0"},
    )
    assert resp.status_code == 202
    body = resp.get_json()
    assert body["status"] == "accepted"
    (record,) = stream_records(redis_client, settings)
    assert record["id"] == body["id"]
    assert record["event_type"] == "asset_viewed"
    assert record["attribution"] == {"utmSource": "news", "referrer": "https://ex.com/"}
    assert record["user_agent"] == "UA/1.0"
    assert record["idempotency_key"] == "k-1"
    assert record["ip_address"] == "127.0.0.1"
    assert datetime.fromisoformat(record["received_at"]) > datetime.now(UTC) - timedelta(seconds=30)


def test_clock_skew_is_corrected_and_raw_values_kept(client, settings, redis_client):
    now = datetime.now(UTC)
    occurred, sent = now - timedelta(minutes=3, seconds=5), now - timedelta(minutes=3)  # client clock 3 min behind
    resp = client.post("/v1/track", json=ev(occurredAt=iso(occurred), sentAt=iso(sent)))
    assert resp.status_code == 202
    (record,) = stream_records(redis_client, settings)
    corrected = datetime.fromisoformat(record["occurred_at"])
    assert abs((corrected - (now - timedelta(seconds=5))).total_seconds()) < 5
    assert datetime.fromisoformat(record["client_occurred_at"]) == occurred
    assert datetime.fromisoformat(record["sent_at"]) == sent


def test_user_agent_from_body_wins_for_server_callers(client, settings, redis_client):
    client.post("/v1/track", json=ev(userAgent="Mozilla/5.0 (iPhone)"), headers={"User-Agent": "python-requests"})
    assert stream_records(redis_client, settings)[0]["user_agent"] == "Mozilla/5.0 (iPhone)"


# --- deduplication ----------------------------------------------------------------------------------------


def test_duplicate_by_fingerprint_returns_the_original_id(client, settings, redis_client):
    at = iso(datetime.now(UTC).replace(microsecond=100_000))
    first = client.post("/v1/track", json=ev(occurredAt=at))
    # Same second, different sub-second part: still the same event.
    again = client.post("/v1/track", json=ev(occurredAt=at.replace(".1", ".9")))
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.get_json() == {"id": first.get_json()["id"], "status": "duplicate", "reason": "fingerprint"}
    other_session = client.post("/v1/track", json=ev(occurredAt=at, sessionId="s-2"))
    assert other_session.status_code == 202
    assert len(stream_records(redis_client, settings)) == 2


def test_duplicate_by_idempotency_key_is_scoped_per_source(client, settings, redis_client):
    first = client.post("/v1/track", json=ev(idempotencyKey="order-7"))
    again = client.post("/v1/track", json=ev(idempotencyKey="order-7", sessionId="other", entityId="ast_002"))
    assert again.status_code == 200
    assert again.get_json() == {"id": first.get_json()["id"], "status": "duplicate", "reason": "idempotency_key"}
    other_source = client.post("/v1/track", json=ev(idempotencyKey="order-7", source="mobile", sessionId="s-m"))
    assert other_source.status_code == 202
    assert len(stream_records(redis_client, settings)) == 2


# --- validation layers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "status", "code", "field", "rule"),
    [
        # 1. schema
        (ev(source=None), 400, "schema", "source", "missing"),
        (ev(sessionId="x" * 129), 400, "schema", "sessionId", "string_too_long"),
        (ev(extra=1), 400, "schema", "extra", "extra_forbidden"),
        (ev(props={"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}), 400, "schema", "props", "value_error"),
        (ev(props={f"k{i}": i for i in range(101)}), 400, "schema", "props", "value_error"),
        (ev(props={"note": "x" * 16_374}), 400, "schema", "props", "value_error"),  # 16,385 bytes as JSON
        (ev(props={"note": "é" * 2_729}), 400, "schema", "props", "value_error"),  # \u00e9: 16,385 bytes
        (ev(occurredAt="2026-01-01T00:00:00"), 400, "schema", "occurredAt", "value_error"),
        # .NET's DateTime.MinValue with a local offset: before year 1 in UTC (it was a 500, and a Segment batch's too)
        (ev(occurredAt="0001-01-01T00:00:00+01:00", source="backfill"), 400, "schema", "occurredAt", "value_error"),
        (ev(sentAt="9999-12-31T23:30:00-01:00"), 400, "schema", "sentAt", "value_error"),
        # 2. business rules
        (ev(eventType="asset_liked"), 422, "unknown_event_type", "eventType", "registered"),
        (ev(entityType="license", entityId="lic_001"), 422, "entity_type", "entityType", "fits_event_type"),
        (ev(entityType=None, entityId=None), 422, "entity_type", "entityId", "required"),
        # An hour ahead, not 6 minutes: the value is computed when the suite is collected, minutes before this runs.
        (ev(occurredAt=iso(datetime.now(UTC) + timedelta(hours=1))), 422, "timestamp", "occurredAt", "not_future"),
        (ev(occurredAt=iso(datetime.now(UTC) - timedelta(days=8))), 422, "timestamp", "occurredAt", "max_age"),
        # 3. referential integrity
        (ev(actorId="usr_999"), 422, "reference", "actorId", "exists"),
        (ev(entityId="ast_999"), 422, "reference", "entityId", "exists"),
        # 4. props per event type
        (ev(props={"viewDurationMs": -1}), 422, "props", "props.viewDurationMs", "greater_than_equal"),
        (ev(eventType="license_created", entityType="license", entityId="lic_001", props={}), 422, "props", None, None),
    ],
)
def test_each_validation_layer_names_field_and_rule(client, settings, redis_client, event, status, code, field, rule):
    resp = client.post("/v1/track", json=event)
    assert resp.status_code == status, resp.get_json()
    body = resp.get_json()
    assert body["code"] == code
    assert body["message"]
    if field:
        assert {"field": field, "rule": rule} in [{"field": e["field"], "rule": e["rule"]} for e in body["errors"]]
    assert stream_records(redis_client, settings) == []
    (kept,) = rejected_entries(redis_client, settings)
    assert kept["reason"] == code
    assert json.loads(kept["payload"]) == event


@pytest.mark.parametrize(
    "note", ["x" * 16_373, "é" * 2_728 + "x" * 5, "\n" * 8_186 + "x"]
)  # exactly 16,384 bytes as JSON
def test_props_at_the_size_limit_are_accepted(client, note):
    assert len(json.dumps({"note": note}, separators=(",", ":"))) == 16_384
    assert client.post("/v1/track", json=ev(props={"note": note})).status_code == 202


def test_backfill_source_may_send_old_events(client):
    old = iso(datetime.now(UTC) - timedelta(days=30))
    assert client.post("/v1/track", json=ev(occurredAt=old, source="backfill")).status_code == 202


def test_reference_miss_confirmed_in_postgres_then_cached(client, app, settings, redis_client, db):
    keys = Keys(settings.key_prefix, settings.stream_key)
    assert redis_client.exists(keys.refs("user")) == 0  # cold cache
    assert client.post("/v1/track", json=ev(actorId="usr_003", entityId="ast_004")).status_code == 202
    assert redis_client.sismember(keys.refs("user"), "usr_003")
    assert redis_client.sismember(keys.refs("asset"), "ast_004")

    # An id created after the cache was filled is found through the Postgres confirmation.
    db.execute(
        "INSERT INTO app.users (id, email, name) VALUES ('usr_new_t1', 'new_t1@example.com', 'New') "
        "ON CONFLICT DO NOTHING"
    )
    try:
        assert client.post("/v1/track", json=ev(actorId="usr_new_t1", sessionId="s-n")).status_code == 202
    finally:
        db.execute("DELETE FROM app.users WHERE id = 'usr_new_t1'")
    # Anonymous actors are not looked up.
    assert (
        client.post("/v1/track", json=ev(actorId="anon-42", actorType="anonymous", sessionId="s-a")).status_code == 202
    )


def test_warm_fills_every_host_table(app, settings, redis_client):
    refs = app.extensions["analytics.ingestor"].refs
    assert refs.warm() == 50 + 20 + 100 + 40 + 20
    keys = Keys(settings.key_prefix, settings.stream_key)
    assert redis_client.scard(keys.refs("payout")) == 20


# --- batch ------------------------------------------------------------------------------------------------


def test_batch_mixed_valid_and_invalid_items_in_order(client, settings, redis_client):
    events = [
        ev(sessionId="b1"),
        ev(eventType="nope"),
        ev(sessionId="b1"),  # duplicate of the first, within the batch
        ev(actorId="usr_404", sessionId="b4"),
        "not an object",
        ev(eventType="page_viewed", entityType=None, entityId=None, props={"path": "/pricing"}, sessionId="b6"),
    ]
    resp = client.post("/v1/track/batch", json={"events": events})
    assert resp.status_code == 200
    results = resp.get_json()["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected", "duplicate", "rejected", "rejected", "accepted"]
    assert results[2]["id"] == results[0]["id"]
    assert results[1]["reason"] == "unknown_event_type"
    assert results[3]["reason"] == "reference"
    assert results[3]["errors"][0]["field"] == "actorId"
    assert results[4]["reason"] == "schema"
    assert [r["id"] for r in stream_records(redis_client, settings)] == [results[0]["id"], results[5]["id"]]
    assert [e["reason"] for e in rejected_entries(redis_client, settings)] == [
        "unknown_event_type",
        "schema",
        "reference",
    ]


def test_batch_limits(client, settings, redis_client):
    too_many = client.post("/v1/track/batch", json={"events": [ev(sessionId=f"s{i}") for i in range(51)]})
    assert too_many.status_code == 413
    assert too_many.get_json()["code"] == "batch_too_large"
    assert stream_records(redis_client, settings) == []
    fifty = client.post("/v1/track/batch", json={"events": [ev(sessionId=f"s{i}") for i in range(50)]})
    assert [r["status"] for r in fifty.get_json()["results"]] == ["accepted"] * 50
    assert client.post("/v1/track/batch", json={"events": []}).get_json() == {"results": []}
    shape = client.post("/v1/track/batch", json=[ev()])
    assert (shape.status_code, shape.get_json()["code"]) == (400, "schema")


# --- request-level refusals -------------------------------------------------------------------------------


def test_unpaired_surrogate_escape_is_malformed_json_not_a_5xx(client, settings, redis_client):
    """json accepts "\\ud800" but no UTF-8 text can carry it; a proper pair ("\\ud83d\\ude00") is an emoji."""
    lone = json.dumps(ev(props={"viewDurationMs": 1, "note": "a\ud800"}))
    assert "\\ud800" in lone
    for path, body in [
        ("/v1/track", lone),
        ("/v1/track/batch", '{"events": [' + lone + "]}"),
        ("/segment/v1/track", '{"event": "x", "userId": "u", "properties": {"p": "\\uDFFF"}}'),
    ]:
        resp = client.post(path, data=body, content_type="application/json")
        assert (resp.status_code, resp.get_json()["code"]) == (400, "malformed_json"), path
    pair = client.post("/v1/track", data=json.dumps(ev(props={"note": "\U0001f600"})), content_type="application/json")
    assert pair.status_code == 202
    (record,) = stream_records(redis_client, settings)
    assert record["props"]["note"] == "\U0001f600"


def test_nan_and_infinity_are_malformed_json_not_null(client, settings, redis_client):
    """json reads NaN, Infinity and 1e400 as floats no JSON column can hold (they were stored as null)."""
    for token in ("NaN", "Infinity", "-Infinity", "1e400", "-2E+999"):
        props = '{"viewDurationMs": 5, "score": ' + token + "}"
        event = json.dumps(ev(props={})).replace('"props": {}', '"props": ' + props)
        for path, body in [
            ("/v1/track", event),
            ("/v1/track/batch", '{"events": [' + event + "]}"),
            ("/segment/v1/track", '{"event": "x", "userId": "u", "properties": ' + props + "}"),
        ]:
            resp = client.post(path, data=body, content_type="application/json")
            answer = resp.get_json()
            assert (resp.status_code, answer["code"]) == (400, "malformed_json"), (token, path)
            assert token.lstrip("-") in answer["message"] or "overflows" in answer["message"]
    assert stream_records(redis_client, settings) == []


def test_integers_beyond_64_bits_keep_every_digit(client, settings, redis_client):
    """The body is parsed with orjson, which would turn such integers into floats: they take the json path."""
    body = json.dumps(ev(props={"viewDurationMs": 7, "big": 123456789012345678901234567890, "neg": -(2**63) - 1}))
    resp = client.post("/v1/track", data=body, content_type="application/json; charset=utf-8")
    assert resp.status_code == 202
    (record,) = stream_records(redis_client, settings)
    assert record["props"] == {"viewDurationMs": 7, "big": 123456789012345678901234567890, "neg": -(2**63) - 1}


def test_malformed_wrong_type_and_oversized_bodies(client, settings, redis_client):
    bad = client.post("/v1/track", data=b'{"eventType": ', content_type="application/json")
    assert (bad.status_code, bad.get_json()["code"]) == (400, "malformed_json")
    wrong = client.post("/v1/track", data=json.dumps(ev()), content_type="application/xml")
    assert (wrong.status_code, wrong.get_json()["code"]) == (415, "unsupported_media_type")
    big = client.post(
        "/v1/track/batch", data=b'{"events": ["' + b"x" * 1_000_001 + b'"]}', content_type="application/json"
    )
    assert (big.status_code, big.get_json()["code"]) == (413, "payload_too_large")
    for resp in (bad, wrong, big):
        assert set(resp.get_json()) <= {"code", "message", "errors"}
    from analytics.collect.stats import collector_summary

    summary = collector_summary(redis_client, Keys(settings.key_prefix, settings.stream_key), 120)
    assert summary["rejectedByReason"] == {"malformed_json": 1, "unsupported_media_type": 1, "payload_too_large": 1}
    assert stream_records(redis_client, settings) == []


def test_unknown_route_and_method_use_the_envelope(client):
    assert client.get("/v1/nope").get_json()["code"] == "not_found"
    assert client.get("/v1/track").get_json()["code"] == "method_not_allowed"


# --- client ip, write keys --------------------------------------------------------------------------------


def test_client_ip_from_forwarded_for_only_behind_trusted_proxies(settings, redis_client):
    from ingest_api import create_app

    for hops, expected in ((0, "127.0.0.1"), (1, "10.0.0.2"), (2, "203.0.113.9")):
        c = create_app(settings.with_overrides(trusted_proxies=hops)).test_client()
        c.post(
            "/v1/track",
            json=ev(sessionId=f"ip{hops}"),
            headers={"X-Forwarded-For": "1.1.1.1, 203.0.113.9, 10.0.0.2"},
        )
        assert stream_records(redis_client, settings)[-1]["ip_address"] == expected


def test_write_keys_when_configured(settings):
    from ingest_api import create_app

    c = create_app(settings.with_overrides(write_keys=("wk_live_1", "wk_live_2"))).test_client()
    assert c.post("/v1/track", json=ev()).status_code == 401
    missing = c.post("/v1/track/batch", json={"events": [ev()]}).get_json()["message"]
    assert "/v1/track/batch" in missing and "writeKey" in missing  # where a key may be: a batch's body too
    assert c.post("/v1/track/batch", json={"events": [ev(sessionId="b")], "writeKey": "wk_live_1"}).status_code == 200
    assert c.post("/v1/track", json=ev(), headers={"X-Write-Key": "wrong"}).status_code == 401
    assert c.post("/v1/track", json=ev(), headers={"X-Write-Key": "wk_live_2"}).status_code == 202
    resp = c.post(
        "/v1/track/batch", json={"events": [ev(sessionId="w")]}, headers={"Authorization": "Bearer wk_live_1"}
    )
    assert resp.status_code == 200


# --- health, metrics --------------------------------------------------------------------------------------


def test_healthz_readyz(client, settings, redis_client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json()["status"] == "ready"
    redis_client.set(settings.stream_key, "oops")
    resp = client.get("/readyz")
    assert (resp.status_code, resp.get_json()["code"]) == (503, "not_ready")


def test_metrics_prometheus_text(client):
    at = iso(datetime.now(UTC) - timedelta(minutes=1))
    client.post("/v1/track", json=ev(occurredAt=at))
    client.post("/v1/track", json=ev(occurredAt=at))
    client.post("/v1/track", json=ev(eventType="nope"))
    client.post("/v1/track", data=b"{", content_type="application/json")
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.content_type.startswith("text/plain")
    text = resp.get_data(as_text=True)
    assert 'collector_events_total{outcome="accepted",reason=""} 1.0' in text
    assert 'collector_events_total{outcome="duplicate",reason="fingerprint"} 1.0' in text
    assert 'collector_events_total{outcome="rejected",reason="unknown_event_type"} 1.0' in text
    assert 'collector_events_total{outcome="rejected",reason="malformed_json"} 1.0' in text
    assert 'collector_requests_total{endpoint="/v1/track",method="POST",status="202"} 1.0' in text
    assert 'collector_request_duration_seconds_bucket{endpoint="/v1/track",le="0.025"}' in text
