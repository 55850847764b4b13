"""The stream entry's payload: one event as a ready PostgreSQL COPY line (text format), and reading it back.

The collector encodes each accepted event once (`encode_line`); the loader appends `\\t<stream id>\\n` and
hands batches of lines to `COPY analytics.events (COLUMNS) FROM STDIN` without decoding them. Text format
rules: columns separated by a tab, NULL is `\\N`, and a backslash, tab, newline or carriage return inside a
value is escaped (`\\\\`, `\\t`, `\\n`, `\\r`). PostgreSQL text cannot hold NUL, so an event carrying one is
refused here, at the collector, with the field that holds it.
"""

from __future__ import annotations

import json
import re
from operator import itemgetter
from typing import Any

from analytics.collect.events import EventRejected, FieldError, canonical_json

# The line's columns, in order; the loader adds `stream_id` (Redis assigns it at XADD). received_at first:
# the newest line of a batch is then simply its largest (the loader records the latest received_at).
COLUMNS = (
    "received_at",
    "id",
    "event_type",
    "source",
    "occurred_at",
    "sent_at",
    "client_occurred_at",
    "actor_id",
    "actor_type",
    "session_id",
    "entity_id",
    "entity_type",
    "props_json",
    "attribution_json",
    "idempotency_key",
    "fingerprint",
    "user_agent",
    "ip_address",
)
PROPS, ATTRIBUTION = COLUMNS.index("props_json"), COLUMNS.index("attribution_json")
JSON_COLUMNS = {"props_json": "props", "attribution_json": "attribution"}  # column → record key
_head = itemgetter(*COLUMNS[:PROPS])
_tail = itemgetter(*COLUMNS[ATTRIBUTION + 1 :])
_TABS = len(COLUMNS) - 1
_NULL = "\\N"

# Where a column's value came from, for the error a client sees.
_CLIENT_FIELD = {
    "actor_id": "actorId",
    "session_id": "sessionId",
    "entity_id": "entityId",
    "idempotency_key": "idempotencyKey",
    "user_agent": "userAgent",
    "ip_address": "ip",
    "props_json": "props",
    "attribution_json": "attribution",
}


def encode_line(record: dict[str, Any]) -> bytes:
    """The event record (as `Ingestor.prepare` returns it) → its COPY line, UTF-8, without the trailing
    stream id and newline. Raises EventRejected for text PostgreSQL cannot store (NUL, lone surrogates)."""
    attribution = record["attribution"]
    # `props_json`: the canonical text the fingerprint already made (Ingestor.prepare); serialised once.
    props = record.get("props_json") or json_text(record["props"])
    values = (*_head(record), props, json_text(attribution))
    values += _tail(record)
    line = "\t".join([_NULL if v is None else v for v in values])
    # One pass over the whole line instead of one per value: the only backslashes may be the NULL markers,
    # the only tabs the separators. Anything else (rare) takes the careful path.
    if line.count("\\") != values.count(None) or line.count("\t") != _TABS or "\n" in line or "\r" in line:
        return _careful(record, values)
    if "\x00" in line:
        raise _rejected(_nul_column(values))
    try:
        return line.encode()
    except UnicodeEncodeError:
        return _careful(record, values)


def json_text(value: Any) -> str:
    """A props / attribution value as the JSON text its column holds ("{}" when empty; keys sorted)."""
    return canonical_json(value)


def _careful(record: dict[str, Any], values: tuple) -> bytes:
    out = []
    for name, value in zip(COLUMNS, values, strict=True):
        if value is None:
            out.append(_NULL)
            continue
        if "\x00" in value and (name not in JSON_COLUMNS or _holds_nul(record[JSON_COLUMNS[name]])):
            raise _rejected(name)
        if name in JSON_COLUMNS and "\\u0000" in value and _holds_nul(record[JSON_COLUMNS[name]]):
            raise _rejected(name)  # jsonb refuses \u0000 too
        try:
            value.encode()
        except UnicodeEncodeError:
            raise EventRejected(
                "schema", [FieldError(_CLIENT_FIELD.get(name, name), "unicode", "lone UTF-16 surrogates are not text")]
            ) from None
        out.append(escape(value))
    return "\t".join(out).encode()


def escape(value: str) -> str:
    """One value in COPY text format (not NULL)."""
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def text_line(values: tuple) -> bytes:
    """A row of str/None values as a complete COPY text line (newline included); raises ValueError for text
    PostgreSQL cannot store."""
    line = "\t".join([_NULL if v is None else v for v in values])
    clean = line.count("\\") == values.count(None) and line.count("\t") == len(values) - 1
    if not clean or "\n" in line or "\r" in line:
        line = "\t".join([_NULL if v is None else escape(v) for v in values])
    if "\x00" in line:
        raise ValueError("text cannot contain NUL (\\u0000)")
    try:
        return (line + "\n").encode()
    except UnicodeEncodeError:
        raise ValueError("text cannot contain lone UTF-16 surrogates") from None


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any("\x00" in k or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


def _nul_column(values: tuple) -> str:
    return next(name for name, v in zip(COLUMNS, values, strict=True) if v is not None and "\x00" in v)


def _rejected(column: str) -> EventRejected:
    field = _CLIENT_FIELD.get(column, column)
    return EventRejected("schema", [FieldError(field, "no_nul", "text cannot contain NUL (\\u0000) characters")])


_ESCAPE = re.compile(rb"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|(.))", re.DOTALL)
_SIMPLE = {b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v"}


def _unescape_match(m: re.Match) -> bytes:
    octal, hexa, char = m.groups()
    if octal is not None:
        return bytes((int(octal, 8) & 0xFF,))
    if hexa is not None:
        return bytes((int(hexa, 16),))
    return _SIMPLE.get(char, char)


def unescape(field: bytes) -> str | None:
    """One COPY text field → its value (None for `\\N`), as PostgreSQL reads it."""
    if field == b"\\N":
        return None
    if b"\\" in field:
        field = _ESCAPE.sub(_unescape_match, field)
    return field.decode()


def decode_line(line: bytes) -> dict[str, str | None]:
    """A COPY line (without the loader's stream id) → {column: text or None}; ValueError if it has the wrong
    number of columns."""
    fields = line.rstrip(b"\n").split(b"\t")
    if len(fields) != len(COLUMNS):
        raise ValueError(f"a line has {len(COLUMNS)} columns, this one {len(fields)}")
    return {name: unescape(f) for name, f in zip(COLUMNS, fields, strict=True)}


def entry_record(fields: dict[bytes, bytes]) -> dict[str, Any]:
    """A stream entry, either format, as the event record the collector built (props/attribution parsed)."""
    line = fields.get(b"r")
    if line is None:
        rec = json.loads(fields[b"e"])
        if b"id" in fields:
            rec["id"] = fields[b"id"].decode()
        return rec
    values = decode_line(line)
    rec: dict[str, Any] = {k: v for k, v in values.items() if k not in JSON_COLUMNS}
    for column, key in JSON_COLUMNS.items():
        rec[key] = json.loads(values[column] or "{}")
    return rec


def stream_fields(record: dict[str, Any]) -> dict[str, bytes | str]:
    """The entry's fields as the collector's append script writes them (for tools and tests that XADD)."""
    fields: dict[str, bytes | str] = {"id": record["id"], "r": encode_line(record)}
    if record.get("idempotency_key") is not None:
        fields["k"] = "1"
    return fields
