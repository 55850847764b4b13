"""ingest_api.fast answers exactly as the Flask views do: the same requests, sent to an app with the fast path and to
one without it (ANALYTICS_COLLECTOR_FAST_PATH=0), get the same statuses, headers and bodies, and write the same
records and rejections."""

from __future__ import annotations

import json
import re
import socket
from datetime import UTC, datetime, timedelta

import pytest

from analytics.collect.copyrow import entry_record
from analytics.collect.keys import Keys
from ingest_api.cors import Cors
from ingest_api.fast import FastPath
from tests.collect.test_collector import ev as collector_event

_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
AT = (datetime.now(UTC) - timedelta(minutes=2)).isoformat()


def ev(**over):
    """tests.test_collector's event, at a fixed time (so a resend is a duplicate whichever second it arrives in)."""
    return collector_event(**{"occurredAt": AT, "sessionId": "fp-1", **over})


def _json(value) -> tuple[str, bytes, str]:
    return ("application/json", json.dumps(value).encode(), "POST")


# (path, content type, body, method): every kind of answer the two endpoints give, plain and not.
REQUESTS = [
    ("/v1/track", *_json(ev())),
    ("/v1/track", *_json(ev())),  # duplicate by fingerprint
    ("/v1/track", *_json(ev(sessionId="fp-2", idempotencyKey="k-1"))),
    ("/v1/track", *_json(ev(sessionId="fp-3", idempotencyKey="k-1"))),  # duplicate by idempotency key
    ("/v1/track", *_json(ev(eventType=None))),  # schema
    ("/v1/track", *_json(ev(eventType="no_such_type"))),
    ("/v1/track", *_json(ev(props={"viewDurationMs": -1}))),
    ("/v1/track", *_json(ev(entityType="license"))),
    ("/v1/track", *_json(ev(actorId="usr_missing", sessionId="fp-4"))),  # reference, confirmed in Postgres
    ("/v1/track", *_json(ev(occurredAt=(datetime.now(UTC) + timedelta(hours=1)).isoformat()))),
    ("/v1/track", *_json([ev()])),  # not an object
    ("/v1/track", *_json(ev(sessionId="fp-5", props={"viewDurationMs": 3, "note": "café ✓"}))),
    ("/v1/track", "application/json", b'{"eventType": "asset_viewed", "source": "web", "props": {"x": NaN}}', "POST"),
    ("/v1/track", "application/json", json.dumps(ev(sessionId="fp-11", props={"x": float("inf")})).encode(), "POST"),
    ("/v1/track", "application/json", json.dumps(ev(sessionId="fp-12")).replace("}", ', "x": 1e999}').encode(), "POST"),
    (
        "/v1/track/batch",
        "application/json",
        b'{"events": [' + json.dumps(ev(props={"n": float("nan")})).encode() + b"]}",
        "POST",
    ),
    (
        "/v1/track",
        "application/json",
        b'{"eventType": "page_viewed", "source": "web", "props": {"path": "\\ud800"}}',
        "POST",
    ),
    ("/v1/track", "application/json", b"{not json", "POST"),
    ("/v1/track", "application/json", b"", "POST"),
    ("/v1/track", "text/plain", json.dumps(ev(sessionId="fp-6")).encode(), "POST"),  # a beacon's body
    ("/v1/track", "text/plain;charset=UTF-8", json.dumps(ev(sessionId="fp-11")).encode(), "POST"),
    ("/v1/track", "text/html", json.dumps(ev(sessionId="fp-12")).encode(), "POST"),
    ("/v1/track/batch", "text/plain;charset=UTF-8", json.dumps({"events": [ev(sessionId="b-tp")]}).encode(), "POST"),
    ("/v1/track", "application/json; charset=utf-8", json.dumps(ev(sessionId="fp-7")).encode(), "POST"),
    ("/v1/track", "Application/JSON", json.dumps(ev(sessionId="fp-9")).encode(), "POST"),
    ("/v1/track", "application/jsonx", json.dumps(ev(sessionId="fp-10")).encode(), "POST"),
    ("/v1/track", "application/json", b'{"a": "' + b"x" * 1_000_100 + b'"}', "POST"),  # over MAX_CONTENT_LENGTH
    ("/v1/track", "application/json", b"", "GET"),
    ("/v1/track/", *_json(ev(sessionId="fp-8"))),
    ("/v1/track/batch", *_json({"events": [ev(sessionId="b-1"), ev(eventType="nope"), ev(sessionId="b-1"), {}]})),
    ("/v1/track/batch", *_json({"events": []})),
    ("/v1/track/batch", *_json({"events": [ev(sessionId=f"b-{n}") for n in range(51)]})),
    ("/v1/track/batch", *_json([ev()])),
    ("/v1/track/batch", *_json({"events": "no"})),
]


def _answers(app, requests, headers=None) -> list[tuple]:
    """Each answer with event ids replaced by the order in which this app first gave them (ids differ run to run)."""
    seen: dict[str, str] = {}

    def number(match: re.Match) -> str:
        return seen.setdefault(match.group(0), f"<id {len(seen)}>")

    client = app.test_client()
    out = []
    for path, content_type, body, method in requests:
        resp = client.open(path, method=method, data=body, headers={"Content-Type": content_type, **(headers or {})})
        text = _ID.sub(number, resp.get_data(as_text=True))
        kept = {k: resp.headers.get(k) for k in ("Content-Type", "Retry-After", "Allow", "Location")}
        out.append((path, resp.status, kept, text))
    return out


def _stored(redis_client, settings) -> tuple[list, list]:
    """The stream records and kept rejections, without what differs by nature (ids, times, fingerprints' inputs)."""
    records = []
    for _, fields in redis_client.xrange(settings.stream_key):
        rec = entry_record(fields)
        records.append({k: v for k, v in rec.items() if k not in ("id", "received_at")})
    keys = Keys(settings.key_prefix, settings.stream_key)
    rejected = [
        {k.decode(): v.decode() for k, v in f.items() if k != b"rejected_at"}
        for _, f in redis_client.xrange(keys.rejected_stream)
    ]
    return records, rejected


def _inner(app):
    """What the metrics wrapper (and the CORS layer, when configured) hand requests to."""
    inner = app.wsgi_app.wrapped
    return inner.wrapped if isinstance(inner, Cors) else inner


def _pair(settings):
    """The same settings twice, the second without the fast path and on keys of its own (under the test's prefix,
    so its cleanup removes them)."""
    from ingest_api import create_app

    flask_only = settings.with_overrides(
        key_prefix=f"{settings.key_prefix}:flask",
        stream_key=f"{settings.key_prefix}:flask:events",
        collector_fast_path=False,
    )
    fast_app, flask_app = create_app(settings), create_app(flask_only)
    assert isinstance(_inner(fast_app), FastPath)  # inside the metrics wrapper (and CORS, when configured)
    assert not isinstance(_inner(flask_app), FastPath)
    return (fast_app, settings), (flask_app, flask_only)


@pytest.fixture
def both(settings):
    return _pair(settings)


def test_same_answers_and_same_writes_with_and_without_the_fast_path(both, redis_client):
    (fast_app, fast_settings), (flask_app, flask_settings) = both
    fast, flask = _answers(fast_app, REQUESTS), _answers(flask_app, REQUESTS)
    for a, b in zip(fast, flask, strict=True):
        assert a == b
    statuses = [status for _, status, _, _ in fast]
    assert statuses.count("202 ACCEPTED") == 7 and "503 SERVICE UNAVAILABLE" not in statuses  # the corpus is live
    assert _stored(redis_client, fast_settings) == _stored(redis_client, flask_settings)
    assert len(_stored(redis_client, fast_settings)[0]) == 9  # 7 single events and one of each batch


def test_same_answers_with_write_keys(settings):
    apps = [app for app, _ in _pair(settings.with_overrides(write_keys=("wk-1", "wk-2")))]
    for headers in (
        {"X-Write-Key": "wk-2"},
        {"Authorization": "Bearer wk-1"},
        {"Authorization": "Basic d2stMTo="},  # wk-1 as the Basic user
        {"X-Write-Key": "wrong"},
        {"Authorization": "Bearer wrong"},
        {},
    ):
        requests = [("/v1/track", *_json(ev(sessionId=f"wk-{sorted(headers.items())}")))]
        fast, flask = (_answers(app, requests, headers)[0][1:3] for app in apps)
        assert fast == flask, headers
    assert _answers(apps[0], [("/v1/track", *_json(ev(sessionId="wk-x")))], {"X-Write-Key": "wk-1"})[0][1] == (
        "202 ACCEPTED"
    )
    for body_key, headers in (("wk-1", {}), ("wrong", {}), ("wrong", {"X-Write-Key": "wk-1"}), (None, {})):
        batch = {"events": [ev(sessionId=f"bk-{body_key}-{headers}")]} | ({"writeKey": body_key} if body_key else {})
        requests = [("/v1/track/batch", "text/plain;charset=UTF-8", json.dumps(batch).encode(), "POST")]
        fast, flask = (_answers(app, requests, headers)[0][1:] for app in apps)
        assert fast == flask, (body_key, headers)
        assert fast[0] == ("200 OK" if body_key == "wk-1" else "401 UNAUTHORIZED"), (body_key, headers)


CORS_HEADERS = ("Access-Control-Allow-Origin", "Vary", "Access-Control-Allow-Methods", "Access-Control-Expose-Headers")


def test_same_answers_with_cors(settings):
    """Cross-origin requests (allowed origin, other origin, preflight) get the same answers either way."""
    apps = [app for app, _ in _pair(settings.with_overrides(cors_origins=("http://shop.test",)))]
    beacon = ("text/plain;charset=UTF-8", "POST")
    requests = [
        ("/v1/track", beacon[0], json.dumps(ev(sessionId="cors-1")).encode(), beacon[1]),
        ("/v1/track/batch", beacon[0], json.dumps({"events": [ev(sessionId="cors-2")]}).encode(), beacon[1]),
        ("/v1/track/batch", "application/json", b"{not json", "POST"),
        ("/v1/track", "application/json", b"", "OPTIONS"),
        ("/v1/admin/stats", "application/json", b"", "GET"),
    ]
    for origin in ("http://shop.test", "http://evil.test"):
        headers = {"Origin": origin, "Access-Control-Request-Method": "POST"}
        answers = []
        for app in apps:
            client = app.test_client()
            answers.append(
                [
                    (resp.status, {k: resp.headers.get(k) for k in CORS_HEADERS}, _ID.sub("<id>", resp.get_data(True)))
                    for resp in (
                        client.open(path, method=method, data=body, headers={"Content-Type": ct, **headers})
                        for path, ct, body, method in requests
                    )
                ]
            )
        fast, flask = answers
        assert fast == flask, origin
        allow = [h["Access-Control-Allow-Origin"] for _, h, _ in fast]
        if origin == "http://shop.test":
            assert [s for s, _, _ in fast][:4] == ["202 ACCEPTED", "200 OK", "400 BAD REQUEST", "204 NO CONTENT"]
            assert allow == [origin] * 4 + [None]  # never on the admin endpoint
        else:
            assert allow == [None] * 5


def test_same_answers_when_redis_is_down(settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = settings.with_overrides(redis_url=f"redis://127.0.0.1:{port}/0", redis_timeout_seconds=0.3)
    requests = [
        ("/v1/track", *_json(ev(sessionId="down"))),
        ("/v1/track/batch", *_json({"events": [ev()]})),
        ("/segment/v1/batch", *_json({"batch": [_seg(1)]})),
    ]
    (fast_app, _), (flask_app, _) = _pair(down)
    fast, flask = _answers(fast_app, requests), _answers(flask_app, requests)
    assert fast == flask
    assert [status for _, status, _, _ in fast] == ["503 SERVICE UNAVAILABLE"] * 3
    assert all(headers["Retry-After"] == "1" for _, _, headers, _ in fast)


def test_same_client_ip_behind_trusted_proxies(settings, redis_client):
    (fast_app, fast_settings), (flask_app, flask_settings) = _pair(settings.with_overrides(trusted_proxies=2))
    for forwarded in ("203.0.113.7, 10.0.0.2, 10.0.0.1", "10.0.0.1", ""):
        requests = [("/v1/track", *_json(ev(sessionId=f"ip-{forwarded}")))]
        headers = {"X-Forwarded-For": forwarded, "User-Agent": "UA/2"}
        assert _answers(fast_app, requests, headers)[0][1] == _answers(flask_app, requests, headers)[0][1]
    fast_records, flask_records = _stored(redis_client, fast_settings)[0], _stored(redis_client, flask_settings)[0]
    assert fast_records == flask_records
    assert [r["ip_address"] for r in fast_records] == ["10.0.0.2", "127.0.0.1", "127.0.0.1"]
    assert {r["user_agent"] for r in fast_records} == {"UA/2"}


def _seg(n: int, **over) -> dict:
    return {
        "type": "track",
        "event": "Asset Viewed",
        "anonymousId": f"anon-fast-{n}",
        "messageId": f"msg-fast-{n}",
        "timestamp": AT,
        "properties": {"assetId": "ast_001", "viewDurationMs": n},
        "context": {"page": {"url": "https://shop.test/a?utm_source=x", "referrer": "https://ref.test/"}},
        **over,
    }


SEGMENT_REQUESTS = [
    ("/segment/v1/b", "text/plain", json.dumps({"batch": [_seg(1), _seg(2)]}).encode(), "POST"),
    ("/segment/v1/b", "text/plain", json.dumps({"batch": [_seg(1)]}).encode(), "POST"),  # a duplicate by messageId
    (
        "/segment/v1/batch",
        "application/json",
        json.dumps({"batch": [_seg(3), _seg(4, event="No Such")]}).encode(),
        "POST",
    ),
    ("/segment/v1/batch", *_json({"batch": [_seg(5, properties={"viewDurationMs": -1}), {"type": "group"}, 7]})),
    ("/segment/v1/b", "text/plain", json.dumps({"batch": []}).encode(), "POST"),
    ("/segment/v1/b", "text/plain", json.dumps({"batch": "no"}).encode(), "POST"),
    ("/segment/v1/b", "text/plain", json.dumps([_seg(6)]).encode(), "POST"),
    ("/segment/v1/b", "text/plain", b"{not json", "POST"),
    ("/segment/v1/b", "text/plain", b'{"batch": [{"type": "track", "event": "Asset Viewed", "x": NaN}]}', "POST"),
    ("/segment/v1/b", "text/html", json.dumps({"batch": [_seg(8)]}).encode(), "POST"),
    ("/segment/v1/t", "text/plain", json.dumps(_seg(9)).encode(), "POST"),  # single calls stay Flask's
]


def test_segment_batches_get_the_same_answers_and_writes_with_and_without_the_fast_path(both, redis_client):
    (fast_app, fast_settings), (flask_app, flask_settings) = both
    fast, flask = _answers(fast_app, SEGMENT_REQUESTS), _answers(flask_app, SEGMENT_REQUESTS)
    for a, b in zip(fast, flask, strict=True):
        assert a == b
    assert [json.loads(text).get("accepted") for *_, text in fast][:4] == [2, 0, 1, 0]  # the corpus is live
    records, rejected = _stored(redis_client, fast_settings)
    assert (records, rejected) == _stored(redis_client, flask_settings)
    assert len(records) == 5 and {r["source"] for r in records} == {"segment"}  # 2 + 1, text/html, /t
    assert {r["reason"] for r in rejected} >= {"unmapped_event", "unsupported_call"}, rejected


def test_segment_batches_with_write_keys_and_gzip_answer_the_same(settings):
    import gzip

    apps = [app for app, _ in _pair(settings.with_overrides(write_keys=("wk-1",)))]
    body = {"batch": [_seg(20)]}
    cases = [
        ({**body, "writeKey": "wk-1"}, {}),
        ({**body, "writeKey": "wrong"}, {}),
        (body, {"Authorization": "Basic d2stMTo="}),  # wk-1 as the Basic user, as analytics-python sends it
        (body, {}),
    ]
    for n, (payload, headers) in enumerate(cases):
        payload = {**payload, "batch": [_seg(30 + n)]}
        requests = [("/segment/v1/batch", "application/json", json.dumps(payload).encode(), "POST")]
        fast, flask = (_answers(app, requests, headers)[0][1:] for app in apps)
        assert fast == flask, (payload.get("writeKey"), headers)
    zipped = [
        ("/segment/v1/batch", "application/json", gzip.compress(json.dumps({**body, "writeKey": "wk-1"}).encode()))
    ]
    fast, flask = (_answers(app, [(*zipped[0], "POST")], {"Content-Encoding": "gzip"})[0][1:] for app in apps)
    assert fast == flask and fast[0] == "200 OK"
