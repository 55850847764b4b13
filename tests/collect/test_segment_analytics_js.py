"""analytics.js (@segment/analytics-next) bodies on its own paths: /segment/v1/t, /p, /i, /g, /a, /s and /b, as text/plain
JSON with the writeKey inside and Basic auth, mapped to our events (page context, campaign, user agent, anonymous
actor, messageId as idempotency key). The same bodies from a real browser: tests/collect/test_browser_clients.py."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from analytics.collect.copyrow import entry_record

UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
PAGE = {
    "path": "/pricing",
    "referrer": "https://news.example/item?id=7",
    "search": "?utm_source=news&utm_medium=social&utm_campaign=launch",
    "title": "Pricing",
    "url": "https://shop.example/pricing?utm_source=news&utm_medium=social&utm_campaign=launch",
}
LATER = (datetime.now(UTC) - timedelta(seconds=3)).isoformat()
CAMPAIGN = {"source": "news", "medium": "social", "name": "launch"}


def _call(kind: str, message_id: str, **extra) -> dict:
    """One call as analytics-next's Segment.io plugin posts it (normalize.js: writeKey, sentAt, ids, context)."""
    return {
        "type": kind,
        "messageId": message_id,
        "anonymousId": "6c1f3e9a-anon",
        "userId": None,
        "timestamp": datetime.now(UTC).isoformat(),
        "context": {"page": PAGE, "campaign": CAMPAIGN, "userAgent": UA, "library": {"name": "analytics.js"}},
        "integrations": {},
        "writeKey": "wk_web",
        "sentAt": datetime.now(UTC).isoformat(),
        "_metadata": {"bundled": ["Segment.io"], "unbundled": []},
        **extra,
    }


@pytest.fixture
def keyed(settings):
    from ingest_api import create_app

    return create_app(settings.with_overrides(write_keys=("wk_web",), cors_origins=("https://shop.example",)))


def _post(client, path: str, body: dict):
    basic = base64.b64encode(f"{body.get('writeKey', '')}:".encode()).decode()
    return client.post(
        path,
        data=json.dumps(body),
        headers={"Content-Type": "text/plain", "Authorization": f"Basic {basic}", "Origin": "https://shop.example"},
    )


def _records(redis_client, key: str) -> list[dict]:
    return [entry_record(fields) for _, fields in redis_client.xrange(key)]


def test_short_paths_map_like_analytics_js_means_them(keyed, settings, redis_client):
    client = keyed.test_client()
    answers = [
        _post(client, "/segment/v1/p", _call("page", "m-p", name="Pricing", properties=PAGE)),
        _post(client, "/segment/v1/t", _call("track", "m-t", event="CTA Clicked", properties={"ctaId": "buy"})),
        _post(client, "/segment/v1/i", _call("identify", "m-i", traits={"plan": "pro"})),
        # A second later: on main the fingerprint leaves props out, so a second page view in the same second of
        # the same actor would be a duplicate.
        _post(
            client, "/segment/v1/s", _call("screen", "m-s", name="Home", properties={"path": "/home"}, timestamp=LATER)
        ),
        _post(client, "/segment/v1/g", _call("group", "m-g", groupId="org-1")),
        _post(client, "/segment/v1/a", _call("alias", "m-a", previousId="old")),
    ]
    assert [a.status_code for a in answers] == [200] * 6
    assert all(a.headers["Access-Control-Allow-Origin"] == "https://shop.example" for a in answers)
    assert [a.get_json()["accepted"] for a in answers] == [1, 1, 1, 1, 0, 0]
    assert [a.get_json()["quarantined"] for a in answers] == [0, 0, 0, 0, 1, 1]  # group, alias: unsupported_call

    page, cta, ident, screen = _records(redis_client, settings.stream_key)
    assert page["event_type"] == "page_viewed" and page["props"]["path"] == "/pricing"
    assert page["props"]["url"] == PAGE["url"] and page["props"]["title"] == "Pricing"
    assert (page["actor_id"], page["actor_type"]) == ("6c1f3e9a-anon", "anonymous")
    assert page["idempotency_key"] == "m-p"
    assert page["user_agent"] == UA
    assert page["attribution"] == {
        "utmSource": "news",
        "utmMedium": "social",
        "utmCampaign": "launch",
        "referrer": PAGE["referrer"],
        "landingPage": PAGE["url"],
    }
    assert page["session_id"] is None  # enrichment derives the session (analytics.enrich.derived_sessions)
    assert (cta["event_type"], cta["props"]["ctaId"], cta["idempotency_key"]) == ("cta_clicked", "buy", "m-t")
    assert cta["attribution"]["utmCampaign"] == "launch"
    assert ident["event_type"] == "user_profile_updated" and ident["props"] == {"fields": ["plan"]}
    assert screen["event_type"] == "page_viewed" and screen["props"]["path"] == "/home"


def test_batching_path_b(keyed, settings, redis_client):
    """The batching delivery strategy: {writeKey, batch, sentAt} to /b, events without their own sentAt."""
    calls = [_call("page", "b-1", properties=PAGE), _call("track", "b-2", event="Signed In")]
    for call in calls:
        del call["sentAt"]
    body = {"writeKey": "wk_web", "batch": calls, "sentAt": datetime.now(UTC).isoformat()}
    resp = _post(keyed.test_client(), "/segment/v1/b", body)
    assert resp.status_code == 200
    assert resp.get_json() == {"success": True, "accepted": 2, "duplicate": 0, "quarantined": 0}
    assert [r["event_type"] for r in _records(redis_client, settings.stream_key)] == ["page_viewed", "user_login"]
    again = _post(keyed.test_client(), "/segment/v1/b", body)  # a retry: the messageIds make it a duplicate
    assert again.get_json()["duplicate"] == 2
    wrong = _post(keyed.test_client(), "/segment/v1/b", body | {"writeKey": "nope"})
    assert wrong.status_code == 401


def test_campaign_from_the_page_search_when_context_has_none(client, settings, redis_client):
    call = _call("page", "s-1", properties={"path": "/"})
    call["context"] = {"page": PAGE | {"referrer": ""}}
    assert _post(client, "/segment/v1/p", call).get_json()["accepted"] == 1
    (rec,) = _records(redis_client, settings.stream_key)
    assert rec["attribution"] == {
        "utmSource": "news",
        "utmMedium": "social",
        "utmCampaign": "launch",
        "landingPage": PAGE["url"],
    }
