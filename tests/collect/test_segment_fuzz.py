"""No Segment message, however odd, makes the endpoint answer 5xx: it is stored or quarantined."""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from(
        [
            "2026-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "0001-01-01T00:00:00Z",
            "2026-01-01T00:00:00",
            "http://[::1",
            "https://example.com/a?b=c",
            "usr_001",
            "ast_001",
            "asset",
        ]
    ),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8,
)
keys = st.sampled_from(
    [
        "type",
        "event",
        "name",
        "userId",
        "anonymousId",
        "messageId",
        "timestamp",
        "sentAt",
        "properties",
        "traits",
        "context",
        "category",
    ]
)
prop_keys = st.sampled_from(["url", "path", "title", "assetId", "entityId", "entityType", "sessionId", "ctaId"])
messages = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["track", "page", "identify", "screen", "alias", "group", None, 3]),
        "event": st.one_of(st.sampled_from(["Asset Viewed", "CTA Clicked", "Signed In", "Nope"]), json_values),
        "properties": st.one_of(st.dictionaries(prop_keys, json_values, max_size=4), json_values),
        "context": st.one_of(
            st.fixed_dictionaries(
                {},
                optional={
                    "page": st.dictionaries(prop_keys, json_values, max_size=3),
                    "campaign": st.dictionaries(st.sampled_from(["source", "name", "term"]), json_values),
                    "userAgent": json_values,
                    "traits": json_values,
                    "sessionId": json_values,
                },
            ),
            json_values,
        ),
    },
    optional={k: json_values for k in ("userId", "anonymousId", "messageId", "timestamp", "sentAt", "traits", "name")},
)
bodies = st.fixed_dictionaries(
    {"batch": st.lists(st.one_of(messages, json_values), max_size=4)},
    optional={"sentAt": json_values, "writeKey": json_values},
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(bodies, st.dictionaries(keys, json_values, max_size=4), json_values))
@example(body={"batch": [{"type": "page", "properties": {"url": "http://[::1"}}]})
@example(
    body={
        "batch": [
            {
                "type": "track",
                "event": "CTA Clicked",
                "properties": {"ctaId": "a"},
                "timestamp": "9999-12-31T23:59:59Z",
                "sentAt": "0001-01-01T00:00:00Z",
            }
        ]
    }
)
def test_no_segment_input_yields_a_5xx(client, body):
    resp = client.post("/segment/v1/batch", json=body)
    assert resp.status_code < 500, (body, resp.get_json())
    if resp.status_code == 200:
        out = resp.get_json()
        n = len(body["batch"])
        assert out["accepted"] + out["duplicate"] + out["quarantined"] == n
