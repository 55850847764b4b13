"""Property: no input, however malformed, makes the collector answer 5xx or lose its envelope."""

from __future__ import annotations

import json
from datetime import datetime

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from analytics.collect.registry import EVENT_TYPES

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
# Any time of the calendar with any offset: at its ends an offset carries the time past year 1 or 9999 in UTC.
offsets = st.just("Z") | st.integers(-14 * 60, 14 * 60).map(
    lambda m: f"{'-' if m < 0 else '+'}{abs(m) // 60:02d}:{abs(m) % 60:02d}"
)
times = st.builds(
    lambda d, o: d.isoformat() + o, st.datetimes(datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59)), offsets
)
near_events = st.fixed_dictionaries(
    {
        "eventType": st.sampled_from(sorted(EVENT_TYPES)) | st.text(max_size=70),
        "source": st.sampled_from(["web", "api", "backfill"]) | json_values,
    },
    optional={
        "actorId": st.sampled_from(["usr_001", "usr_999", ""]) | json_values,
        "actorType": st.sampled_from(["user", "anonymous", "robot"]) | json_values,
        "entityId": st.sampled_from(["ast_001", "lic_001", "prj_001", "pay_001", "zzz"]) | json_values,
        "entityType": st.sampled_from(["asset", "license", "project", "payout", "user", "x"]) | json_values,
        "sessionId": st.text(max_size=140) | json_values,
        "occurredAt": st.sampled_from(["2026-11-28T20:00:00Z", "yesterday", "9999-12-31T23:59:59+14:00"])
        | times
        | json_values,
        "sentAt": st.sampled_from(["2026-11-28T20:00:00Z", "0001-01-01T00:00:00Z"]) | times | json_values,
        "props": st.dictionaries(st.text(max_size=16), json_values, max_size=6) | json_values,
        "attribution": st.dictionaries(st.sampled_from(["utmSource", "referrer", "bogus"]), json_values) | json_values,
        "idempotencyKey": st.text(max_size=140) | json_values,
        "userAgent": st.text(max_size=50) | json_values,
    },
)
FAST = hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _ok(resp) -> None:
    assert resp.status_code < 500, resp.get_data(as_text=True)
    body = resp.get_json()
    assert isinstance(body, dict)
    if resp.status_code >= 400:
        assert isinstance(body["code"], str) and isinstance(body["message"], str)


@FAST
@given(event=near_events | json_values)
def test_track_never_5xx(client, event):
    _ok(client.post("/v1/track", json=event))


@FAST
@given(events=st.lists(near_events | json_values, max_size=8) | json_values)
def test_batch_never_5xx(client, events):
    _ok(client.post("/v1/track/batch", json={"events": events}))
    _ok(client.post("/v1/track/batch", json=events))


@FAST
@given(body=st.binary(max_size=200), content_type=st.sampled_from(["application/json", "text/plain", ""]))
def test_raw_bytes_never_5xx(client, body, content_type):
    _ok(client.post("/v1/track", data=body, content_type=content_type))


def test_deep_and_huge_json_is_refused_cleanly(client):
    deep = ("[" * 100_000 + "]" * 100_000).encode()
    _ok(client.post("/v1/track", data=deep, content_type="application/json"))
    _ok(client.post("/v1/track", data=json.dumps({"props": "x" * 2_000_000}), content_type="application/json"))
    for depth in (50, 500, 900):
        nested = '{"eventType": "page_viewed", "source": "web", "props": ' + '{"a": ' * depth + "1" + "}" * depth + "}"
        _ok(client.post("/v1/track", data=nested, content_type="application/json"))
        _ok(client.post("/v1/track/batch", data='{"events": [' + nested + "]}", content_type="application/json"))


def _reference_depth(value, level: int = 1) -> int:
    if isinstance(value, dict):
        return max((_reference_depth(v, level + 1) for v in value.values()), default=level)
    if isinstance(value, list):
        return max((_reference_depth(v, level + 1) for v in value), default=level)
    return level - 1


any_text = st.text(st.characters(codec=None, exclude_categories=("Cs",)), max_size=30)
props_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats()
    | any_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=30,
)


@hsettings(max_examples=500, deadline=None)
@given(value=props_values)
def test_props_shape_bounds_the_exact_checks(value):
    """The props bound's cheap walk: the same depth as the exact walk, a size never below the real JSON's."""
    from analytics.collect.events import _shape

    depth, size = _shape(value, 1)
    assert depth == _reference_depth(value)
    assert size >= len(json.dumps(value, separators=(",", ":"), default=str))
