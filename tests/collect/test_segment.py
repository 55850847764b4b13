"""The Segment-compatible endpoint through Flask's test client, against real Redis."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import UTC, datetime, timedelta

import pytest

from analytics.collect.copyrow import entry_record
from analytics.collect.segment_map import SegmentMapper, key_of, parse_pairs
from analytics.load.job import run_load
from analytics.load.tasks import loader_config


def _entries(redis_client, stream: str) -> list[dict]:
    out = []
    for _, fields in redis_client.xrange(stream):
        if b"r" in fields:
            rec = entry_record(fields)
        else:
            rec = {k.decode(): v.decode() for k, v in fields.items()}
        out.append(rec)
    return out


def _rejected(redis_client, settings) -> list[dict]:
    return _entries(redis_client, f"{settings.key_prefix}:rejected")


def _track(event: str = "Asset Viewed", message_id: str = "m-1", **extra) -> dict:
    return {
        "type": "track",
        "event": event,
        "userId": "usr_004",
        "anonymousId": None,
        "messageId": message_id,
        "timestamp": datetime.now(UTC).isoformat(),
        "properties": {"assetId": "ast_010", "viewDurationMs": 900},
        "context": {"campaign": {"source": "newsletter", "medium": "email", "name": "spring"}},
        **extra,
    }


@pytest.fixture
def keyed_client(settings):
    from ingest_api import create_app

    return create_app(settings.with_overrides(write_keys=("wk_live", "wk_other"))).test_client()


def test_track_maps_to_our_event_and_a_replay_is_stored_once(client, settings, redis_client):
    body = {"batch": [_track()], "sentAt": datetime.now(UTC).isoformat()}
    resp = client.post("/segment/v1/batch", json=body)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json() == {"success": True, "accepted": 1, "duplicate": 0, "quarantined": 0}
    (rec,) = _entries(redis_client, settings.stream_key)
    assert rec["event_type"] == "asset_viewed"
    assert rec["source"] == "segment"
    assert (rec["actor_id"], rec["actor_type"]) == ("usr_004", "user")
    assert (rec["entity_id"], rec["entity_type"]) == ("ast_010", "asset")
    assert rec["idempotency_key"] == "m-1"
    assert rec["props"]["viewDurationMs"] == 900
    assert rec["attribution"] == {"utmSource": "newsletter", "utmMedium": "email", "utmCampaign": "spring"}

    again = client.post("/segment/v1/batch", json=body)
    assert again.status_code == 200
    assert again.get_json()["duplicate"] == 1
    assert len(redis_client.xrange(settings.stream_key)) == 1


def test_page_and_identify_map_without_storing_trait_values(client, settings, redis_client):
    page = client.post(
        "/segment/v1/page",
        json={
            "userId": "usr_005",
            "name": "Pricing",
            "messageId": "p-1",
            "properties": {"url": "https://example.com/pricing?x=1"},
        },
    )
    ident = client.post(
        "/segment/v1/identify",
        json={"userId": "usr_005", "messageId": "i-1", "traits": {"email": "a@b.c", "name": "Ann"}},
    )
    assert page.status_code == ident.status_code == 200
    assert page.get_json()["accepted"] == ident.get_json()["accepted"] == 1
    page_rec, ident_rec = _entries(redis_client, settings.stream_key)
    assert page_rec["event_type"] == "page_viewed"
    assert page_rec["props"] == {"path": "/pricing", "url": "https://example.com/pricing?x=1", "title": "Pricing"}
    assert ident_rec["event_type"] == "user_profile_updated"
    assert (ident_rec["entity_id"], ident_rec["entity_type"]) == ("usr_005", "user")
    assert ident_rec["props"] == {"fields": ["email", "name"]}
    assert "a@b.c" not in json.dumps(ident_rec)


def test_unmapped_invalid_and_unsupported_are_quarantined_with_200(client, settings, redis_client, db):
    batch = [
        _track("Order Completed", "q-1"),  # no mapping
        _track("License Created", "q-2", properties={"licenseId": "lic_001", "priceCents": -5}),  # invalid props
        {"type": "alias", "userId": "usr_001", "previousId": "x", "messageId": "q-3"},  # call we do not collect
        _track("Asset Viewed", "q-4"),  # fine
    ]
    resp = client.post("/segment/v1/batch", json={"batch": batch})
    assert resp.status_code == 200
    assert resp.get_json() == {"success": True, "accepted": 1, "duplicate": 0, "quarantined": 3}
    rejected = _rejected(redis_client, settings)
    assert {r["stage"] for r in rejected} == {"segment"}
    reasons = sorted(r["reason"] for r in rejected)
    assert reasons == ["props", "unmapped_event", "unsupported_call"]
    unmapped = next(r for r in rejected if r["reason"] == "unmapped_event")
    assert json.loads(unmapped["payload"])["messageId"] == "q-1"
    assert "ANALYTICS_SEGMENT_EVENT_MAP" in unmapped["errors"]
    props = next(r for r in rejected if r["reason"] == "props")
    assert "priceCents" in props["errors"] or "licenseType" in props["errors"]
    assert len(redis_client.xrange(settings.stream_key)) == 1
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'collector_events_total{outcome="rejected",reason="unmapped_event"} 1.0' in metrics
    assert 'collector_events_total{outcome="accepted",reason=""} 1.0' in metrics

    run_load(settings.database_url, redis_client, loader_config(settings, time_budget_s=5.0, block_ms=50))
    kept = db.execute(
        "SELECT reason FROM analytics.rejected_events WHERE stage = 'segment' AND payload LIKE %s ORDER BY reason",
        ('%"q-_"%',),
    ).fetchall()
    assert [r[0] for r in kept] == ["props", "unmapped_event", "unsupported_call"]


def test_a_time_outside_the_calendar_in_utc_is_quarantined_not_a_500(client, settings, redis_client):
    """.NET's DateTime.MinValue sent with a local offset is before year 1 in UTC: once a 500 for the whole batch,
    which an SDK retries for ever; now that message is quarantined and the rest go in."""
    batch = [
        _track(message_id="cal-1", timestamp="0001-01-01T00:00:00+01:00"),
        _track(message_id="cal-2", sentAt="9999-12-31T23:30:00-01:00"),
        _track(message_id="cal-3"),
    ]
    resp = client.post("/segment/v1/batch", json={"batch": batch})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json() == {"success": True, "accepted": 1, "duplicate": 0, "quarantined": 2}
    rejected = _rejected(redis_client, settings)
    assert sorted((r["reason"], json.loads(r["errors"])[0]["field"]) for r in rejected) == [
        ("schema", "occurredAt"),
        ("schema", "sentAt"),
    ]


def test_write_key_from_body_basic_auth_or_header(keyed_client, redis_client, settings):
    def post(body=None, headers=None):
        return keyed_client.post("/segment/v1/batch", json=body or {"batch": []}, headers=headers or {})

    def basic(raw: str) -> dict:
        return {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}

    missing = post()
    assert missing.status_code == 401
    assert missing.get_json()["code"] == "unauthorized" and missing.get_json()["message"]
    assert post({"batch": [], "writeKey": "nope"}).status_code == 401
    assert post(headers=basic("nope:")).status_code == 401
    assert post({"batch": [], "writeKey": "wk_live"}).status_code == 200
    assert post(headers=basic("wk_other:")).status_code == 200
    assert post(headers=basic("wk_live")).status_code == 200
    assert post(headers={"X-Write-Key": "wk_live"}).status_code == 200
    assert post(headers={"Authorization": "Basic !!!"}).status_code == 401


_BASIC = "Basic " + base64.b64encode(b"wk_live:").decode()


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Authorization": "Bearer wk_live"}, 200),
        ({"Authorization": _BASIC}, 200),
        ({"X-Write-Key": "wk_live"}, 200),
        ({"Authorization": "Bearer nope"}, 401),
        ({"Authorization": "Token wk_live"}, 401),
    ],
)
@pytest.mark.parametrize("path", ["/segment/v1/batch", "/segment/v1/track", "/v1/track/batch"])
def test_native_and_segment_endpoints_take_the_same_write_key_forms(keyed_client, path, headers, status):
    """One parser: a Bearer write key (what our own client and curl users send) works on /segment too."""
    body = {"events": []} if path.startswith("/v1") else {"batch": []}
    if path == "/segment/v1/track":
        body = _track(message_id="bearer-1")
    resp = keyed_client.post(path, json=body, headers=headers)
    assert resp.status_code == status, resp.get_json()


def test_gzip_is_inflated_and_a_bomb_refused(client, settings, redis_client):
    body = json.dumps({"batch": [_track(message_id="g-1")]}).encode()
    ok = client.post(
        "/segment/v1/batch",
        data=gzip.compress(body),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert ok.status_code == 200 and ok.get_json()["accepted"] == 1

    bomb = gzip.compress(b'{"batch": [' + b" " * (50 * settings.max_body_bytes) + b"]}", compresslevel=9)
    assert len(bomb) < settings.max_body_bytes
    resp = client.post(
        "/segment/v1/batch", data=bomb, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
    )
    assert resp.status_code == 413
    assert resp.get_json()["code"] == "payload_too_large"

    broken = client.post("/segment/v1/batch", data=gzip.compress(body)[:-12], headers={"Content-Encoding": "gzip"})
    assert broken.status_code == 400 and broken.get_json()["code"] == "malformed_gzip"
    assert client.post("/segment/v1/batch", data=b"{nope").status_code == 400
    assert client.post("/segment/v1/batch", json={"batch": "x"}).status_code == 400
    assert len(redis_client.xrange(settings.stream_key)) == 1


def test_client_clock_skew_is_corrected_from_sent_at(client, settings, redis_client):
    now = datetime.now(UTC)
    behind = timedelta(minutes=3)  # the sender's clock is 3 min slow; the event happened 10 s before sending
    msg = _track(message_id="s-1", timestamp=(now - behind - timedelta(seconds=10)).isoformat())
    resp = client.post("/segment/v1/batch", json={"batch": [msg], "sentAt": (now - behind).isoformat()})
    assert resp.get_json()["accepted"] == 1
    (rec,) = _entries(redis_client, settings.stream_key)
    occurred = datetime.fromisoformat(rec["occurred_at"])
    assert abs((occurred - (now - timedelta(seconds=10))).total_seconds()) < 5


def test_event_map_is_extensible_from_settings(settings, redis_client):
    from ingest_api import create_app

    app = create_app(settings.with_overrides(segment_event_map=("Video Played=asset_viewed",)))
    resp = app.test_client().post("/segment/v1/track", json=_track("Video Played", "v-1"))
    assert resp.get_json()["accepted"] == 1
    (rec,) = _entries(redis_client, settings.stream_key)
    assert rec["event_type"] == "asset_viewed"


def test_mapper_names_actor_and_config_errors():
    assert {key_of(n) for n in ("Asset Viewed", "asset-viewed", "assetViewed", " ASSET_VIEWED ")} == {"asset_viewed"}
    mapper = SegmentMapper(extra={"Checkout Started": "cta_clicked"})
    assert mapper.event_type_for("Signed In") == "user_login"
    assert mapper.event_type_for("checkout started") == "cta_clicked"
    assert mapper.event_type_for("Order Completed") is None
    anon = mapper.map({"type": "track", "event": "CTA Clicked", "anonymousId": "anon-7", "properties": {"ctaId": "c"}})
    assert (anon["actorId"], anon["actorType"]) == ("anon-7", "anonymous")
    with pytest.raises(ValueError, match="asset_viewed"):
        parse_pairs(["Video Played=video_played"])
    with pytest.raises(ValueError):
        SegmentMapper(extra={"X": "nope"})


def test_mapper_reads_each_field_the_way_it_is_sent():
    """The mapper's quick reads (cached names, "...Z" kept as sent, entity keys per type) and its slower ones agree."""
    from analytics.collect.segment_map import Unmapped

    mapper = SegmentMapper()
    base = {"type": "track", "event": "Asset Viewed", "anonymousId": "a-1"}
    # An explicit entityId wins over assetId and leaves props; a lone entityType is dropped and assetId names it.
    explicit = mapper.map({**base, "properties": {"entityId": 7, "assetId": "ast_001", "viewDurationMs": 5}})
    assert (explicit["entityId"], explicit["entityType"]) == ("7", "asset")
    assert explicit["props"] == {"assetId": "ast_001", "viewDurationMs": 5}
    lone = mapper.map({**base, "properties": {"entityType": "asset", "asset_id": "ast_002"}})
    assert (lone["entityId"], lone["entityType"], lone["props"]) == ("ast_002", "asset", {"asset_id": "ast_002"})
    # Ids that are numbers become text; a userId wins over the anonymousId; a long messageId is digested.
    ids = mapper.map({**base, "userId": 42, "messageId": "m" * 200, "properties": {"sessionId": 9}})
    assert (ids["actorId"], ids["actorType"], ids["sessionId"]) == ("42", "user", "9")
    assert len(ids["idempotencyKey"]) == 64 and "sessionId" not in ids["props"]
    assert mapper.map({**base, "context": {"sessionId": "s-ctx"}})["sessionId"] == "s-ctx"
    # Times: "...Z" and offsets as sent, a naive time read as UTC, anything else passed on for validation to refuse.
    sent = "2026-01-01T12:00:05Z"
    for given, expected in [
        ("2026-01-01T12:00:00.250Z", "2026-01-01T12:00:00.250Z"),
        ("2026-01-01T12:00:00+02:00", "2026-01-01T12:00:00+02:00"),
        ("2026-01-01T12:00:00", "2026-01-01T12:00:00+00:00"),
        ("yesterday", "yesterday"),
    ]:
        out = mapper.map({**base, "timestamp": given}, sent)
        assert (out["occurredAt"], out["sentAt"]) == (expected, sent), given
    assert "occurredAt" not in mapper.map({**base, "timestamp": ""}) and "sentAt" not in mapper.map(base, sent)
    # No context: no user agent, no attribution; a blank name is refused before any lookup, even after a real one.
    bare = mapper.map(base)
    assert "userAgent" not in bare and "attribution" not in bare
    for blank in ("   ", ""):
        with pytest.raises(Unmapped) as refused:
            mapper.map({**base, "event": blank})
        assert refused.value.reason == "schema"
    assert mapper.event_type_for("   ") is None and mapper.map(base)["eventType"] == "asset_viewed"
    with pytest.raises(Unmapped, match="track call needs an event name"):
        mapper.map({**base, "event": "   "})


def test_a_large_batch_is_ingested_in_chunks(client, settings, redis_client):
    batch = [
        _track(message_id=f"big-{i}", properties={"assetId": f"ast_{i % 100 + 1:03d}", "sessionId": f"big-{i}"})
        for i in range(1200)
    ]
    resp = client.post("/segment/v1/batch", json={"batch": batch})
    assert resp.get_json() == {"success": True, "accepted": 1200, "duplicate": 0, "quarantined": 0}
    assert redis_client.xlen(settings.stream_key) == 1200
