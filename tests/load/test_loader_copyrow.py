"""The stream entry's COPY line: hostile text round-trips exactly into Postgres; what it cannot hold is refused
at the collector; entries in the format before it (the record as JSON) still load."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from analytics.collect.copyrow import COLUMNS, decode_line, encode_line, entry_record, stream_fields
from analytics.collect.events import EventRejected
from tests.load.test_loader import add, legacy_fields, load, make_record, stored

# Everything COPY's text format treats specially, plus what tends to break encoders.
HOSTILE = (
    "tab\there nl\nhere cr\rhere crlf\r\n bs\\ \\N \\\\N \\t \\. end\\ \"q\" 'q' \x01\x1b\x7f é 日本 🙂 \u2028 \ufeff"
)
TEXT_COLUMNS = ("actor_id", "session_id", "idempotency_key", "user_agent")


def hostile_record(i: int, text: str = HOSTILE, **overrides) -> dict:
    values = {
        "session_id": f"s{i} {text}",
        "actor_id": f"a{i} {text}",
        "idempotency_key": f"k{i} {text}",
        "user_agent": f"ua {text}",
        "props": {"q": text, f"key {text}": [text, {"n": text}], "literal": "\\u0000 is six characters"},
        "attribution": {"utmSource": text, "referrer": f"https://example.com/?q={text}"},
    }
    return make_record(i, **{**values, **overrides})


def row_of(db, event_id: str) -> dict:
    cur = db.execute(f"SELECT {', '.join(COLUMNS)} FROM analytics.events WHERE id = %s", (event_id,))
    values = cur.fetchone()
    assert values is not None, f"event {event_id} not loaded"
    return dict(zip(COLUMNS, values, strict=True))


def assert_stored_as_sent(db, rec: dict) -> None:
    """Every column of the stored row equals the record the collector built."""
    row = row_of(db, rec["id"])
    for column in COLUMNS:
        got = row[column]
        want = rec[{"props_json": "props", "attribution_json": "attribution"}.get(column, column)]
        if column.endswith("_at") and want is not None:
            want = datetime.fromisoformat(want.replace("Z", "+00:00"))
        elif column in ("id", "ip_address") and got is not None:
            got = str(got)
        assert got == want, column


# --- the line itself --------------------------------------------------------------------------------------

text_no_nul = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | text_no_nul,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text_no_nul, inner, max_size=3),
    max_leaves=8,
)


@hsettings(max_examples=300, deadline=None)
@given(
    text=st.fixed_dictionaries({c: st.none() | text_no_nul for c in TEXT_COLUMNS + ("entity_id", "ip_address")}),
    props=st.dictionaries(text_no_nul, json_values, max_size=4),
    attribution=st.dictionaries(text_no_nul, text_no_nul, max_size=3),
)
def test_a_line_decodes_to_the_record_it_encodes(text, props, attribution):
    rec = {**make_record(1), **text, "props": props, "attribution": attribution}
    line = encode_line(rec)
    assert b"\n" not in line and b"\r" not in line and line.count(b"\t") == len(COLUMNS) - 1
    back = entry_record({b"id": rec["id"].encode(), b"r": line})
    assert back == {**rec, "props": props or {}, "attribution": attribution or {}}


def test_the_line_carries_what_the_json_it_replaces_carried():
    """The COPY line replaced a JSON entry; its speed-up is a benchmark's to show (bench/loader_bench.py, the
    profile's "record → JSON (before)" and "record → COPY line (now)"). Here: the same record comes back."""
    rec = make_record(3, idempotency_key="k-1")
    before = json.loads(json.dumps(rec, separators=(",", ":"), ensure_ascii=False))
    assert entry_record({b"id": rec["id"].encode(), b"r": encode_line(rec)}) == before


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"actor_id": "a\x00b"}, "actorId"),
        ({"session_id": "\x00"}, "sessionId"),
        ({"idempotency_key": "k\x00"}, "idempotencyKey"),
        ({"props": {"q": "a\x00b"}}, "props"),
        ({"props": {"a\x00": 1}}, "props"),
        ({"props": {"q": "\\u0000 and \x00"}}, "props"),
        ({"attribution": {"utmSource": "x\x00"}}, "attribution"),
        ({"props": {"q": "\ud800"}}, "props"),
        ({"user_agent": "ua\udfff"}, "userAgent"),
    ],
)
def test_text_postgres_cannot_hold_is_refused_with_the_field(override, field):
    with pytest.raises(EventRejected) as exc:
        encode_line({**make_record(2), **override})
    assert exc.value.reason == "schema" and [e.field for e in exc.value.errors] == [field]


def test_six_characters_that_spell_a_nul_escape_are_text():
    rec = make_record(4, props={"q": "\\u0000"})
    assert json.loads(decode_line(encode_line(rec))["props_json"]) == {"q": "\\u0000"}


# --- into Postgres ----------------------------------------------------------------------------------------


def test_hostile_text_round_trips_exactly_into_every_column(settings, redis_client, db):
    records = [hostile_record(i) for i in range(3)]
    records.append(hostile_record(3, text="\\", sent_at=None, user_agent=None, ip_address="2001:db8::1"))
    records.append(make_record(5, props={}, attribution={}, session_id=None, actor_id="\\N"))
    add(redis_client, settings, records)
    stats = load(settings, redis_client)
    assert (stats.inserted, stats.rejected) == (len(records), 0)
    for rec in records:
        assert_stored_as_sent(db, rec)
    assert row_of(db, records[4]["id"])["session_id"] is None  # NULL stays NULL, the text "\N" stays text
    assert row_of(db, records[4]["id"])["actor_id"] == "\\N"


def test_hostile_text_round_trips_on_the_staged_path_too(settings, redis_client, db):
    # A replayed entry sends the whole batch through staging + INSERT … ON CONFLICT.
    first = hostile_record(10)
    add(redis_client, settings, [first])
    load(settings, redis_client)
    second = hostile_record(11)
    add(redis_client, settings, [first, second])
    stats = load(settings, redis_client)
    assert (stats.inserted, stats.already_present) == (1, 1)
    assert_stored_as_sent(db, second)


def test_the_collector_to_postgres_keeps_what_the_client_sent(client, settings, redis_client, db):
    sent = {
        "eventType": "page_viewed",
        "source": "web",
        "actorType": "anonymous",
        "actorId": f"anon {HOSTILE} x",
        "sessionId": f"s {HOSTILE} x",
        "idempotencyKey": f"k {HOSTILE} x",
        "userAgent": f"ua {HOSTILE} x",
        "occurredAt": "2026-11-28T20:00:00.123456+05:30",
        "props": {"path": f"/p?{HOSTILE}", f"k {HOSTILE}": [HOSTILE, {"n": 1.5, "b": True, "z": None}]},
        "attribution": {"utmCampaign": HOSTILE, "landingPage": f"https://example.com/{HOSTILE}"},
    }
    resp = client.post("/v1/track", json=sent)
    assert resp.status_code == 202, resp.get_json()
    event_id = resp.get_json()["id"]
    load(settings, redis_client)
    row = row_of(db, event_id)
    assert (row["actor_id"], row["session_id"]) == (sent["actorId"], sent["sessionId"])
    assert (row["idempotency_key"], row["user_agent"]) == (sent["idempotencyKey"], sent["userAgent"])
    assert row["client_occurred_at"] == datetime(2026, 11, 28, 14, 30, 0, 123456, tzinfo=UTC)
    assert row["props_json"] == sent["props"]
    assert row["attribution_json"] == sent["attribution"]
    assert row["idempotency_key"] in [
        k for (k,) in db.execute("SELECT idempotency_key FROM analytics.idempotency_keys")
    ]


@pytest.mark.parametrize(
    "change",
    [
        {"actorId": "a\u0000b", "actorType": "anonymous"},
        {"sessionId": "s\u0000"},
        {"idempotencyKey": "k\u0000"},
        {"props": {"path": "/\u0000"}},
        {"attribution": {"utmSource": "\u0000"}},
    ],
)
def test_the_collector_refuses_text_postgres_cannot_hold(client, settings, redis_client, change):
    # (A lone surrogate is refused by copyrow too — see above — but over HTTP the body parser is the place.)
    body = json.dumps({"eventType": "page_viewed", "source": "web", "props": {"path": "/"}, **change})
    resp = client.post("/v1/track", data=body, content_type="application/json")
    assert resp.status_code == 400, resp.get_json()
    err = resp.get_json()
    assert err["code"] == "schema" and err["errors"][0]["field"] == next(iter(change))
    assert redis_client.xlen(settings.stream_key) == 0
    batch = client.post("/v1/track/batch", data=f'{{"events": [{body}]}}', content_type="application/json")
    assert batch.get_json()["results"][0]["status"] == "rejected"


# --- the format before the COPY line ----------------------------------------------------------------------


def test_legacy_entries_load_beside_current_ones_with_the_same_rows(settings, redis_client, db):
    legacy = [hostile_record(20 + i, idempotency_key=None) for i in range(3)]
    current = [{**rec, "id": make_record(0)["id"]} for rec in legacy]  # the same events, new ids
    keyed_old = make_record(30, idempotency_key="cart-legacy")
    keyed_new = make_record(31, idempotency_key="cart-legacy")  # a retry in the new format: a duplicate
    add(redis_client, settings, [*legacy, keyed_old], legacy=True)
    add(redis_client, settings, [*current, keyed_new])
    stats = load(settings, redis_client)
    assert (stats.entries_read, stats.inserted, stats.rejected) == (8, 7, 0)
    for old, new in zip(legacy, current, strict=True):
        assert {**row_of(db, old["id"]), "id": None} == {**row_of(db, new["id"]), "id": None}
        assert_stored_as_sent(db, old)
    assert stored(db, [keyed_old["id"], keyed_new["id"]]) == [keyed_old["id"]]


def test_legacy_entries_replayed_insert_nothing_twice(settings, redis_client, db):
    records = [make_record(40 + i, idempotency_key=f"legacy-{i}" if i % 2 else None) for i in range(6)]
    ids = add(redis_client, settings, records, legacy=True)
    first = load(settings, redis_client)
    add(redis_client, settings, records, legacy=True)
    add(redis_client, settings, records)  # and once more as a collector of the new format would write them
    second = load(settings, redis_client)
    assert (first.inserted, second.entries_read, second.inserted, second.already_present) == (6, 12, 0, 12)
    assert stored(db, ids) == sorted(ids)


def test_entry_record_reads_both_formats():
    rec = make_record(50, idempotency_key="k")
    as_current = {k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in stream_fields(rec).items()}
    as_legacy = {k.encode(): v.encode() for k, v in legacy_fields(rec).items()}
    assert entry_record(as_current) == entry_record(as_legacy) == rec
    assert b"k" in as_current and b"k" not in stream_fields(make_record(51))


def test_the_run_records_the_latest_received_at_it_loaded(settings, redis_client, db):
    at = [datetime(2026, 11, 28, 10, m, tzinfo=UTC) for m in (5, 40, 20)]
    current = [make_record(60 + i, received_at=t) for i, t in enumerate(at)]
    older = make_record(63, received_at=datetime(2026, 11, 28, 10, 50, tzinfo=UTC))  # the latest, as JSON
    add(redis_client, settings, current)
    add(redis_client, settings, [older], legacy=True)
    assert load(settings, redis_client).max_received_at == "2026-11-28T10:50:00Z"
    # A line that fails to load does not count, however late it says it was received.
    bad = make_record(64, received_at=datetime(2026, 11, 28, 11, 0, tzinfo=UTC), ip_address="not-an-ip")
    add(redis_client, settings, [make_record(65, received_at=datetime(2026, 11, 28, 10, 55, tzinfo=UTC)), bad])
    stats = load(settings, redis_client)
    assert (stats.inserted, stats.rejected, stats.max_received_at) == (1, 1, "2026-11-28T10:55:00Z")
