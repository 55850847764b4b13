"""Rejected entries: the loader's own (stage `loader`) and the collector's, copied from `{prefix}:rejected`."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

import psycopg
import psycopg.errors
import redis
from psycopg.types.json import Jsonb

from analytics.collect import copyrow
from analytics.load import stream_reader as loader_stream
from analytics.sql import load_sql

# Errors a row's content can cause (bad data, a constraint, a value past a size limit such as a btree
# key's); anything else (connection lost, missing table) fails the run.
ROW_ERRORS = (psycopg.DataError, psycopg.IntegrityError, psycopg.errors.ProgramLimitExceeded)
MAX_SHORT_TEXT = 1000

log = logging.getLogger(__name__)

_EVENT_TYPE, _SOURCE = copyrow.COLUMNS.index("event_type"), copyrow.COLUMNS.index("source")


def loader_rejection(stream_id: str, fields: dict[bytes, bytes], reason: str, message: str) -> dict[str, Any]:
    """Parameters of insert_rejected_event for a main-stream entry that cannot load (raw entry kept: the COPY
    line `r`, or the legacy JSON `e`, or all fields as JSON when it has neither)."""
    raw = fields.get(b"r", fields.get(b"e"))
    if raw is None:
        payload = json.dumps({k.decode(errors="replace"): v.decode(errors="replace") for k, v in fields.items()})
    else:
        payload = raw.decode(errors="replace")
    source = event_type = None
    if b"r" in fields:
        values = raw.split(b"\t", _EVENT_TYPE + 2)
        if len(values) > _SOURCE:
            event_type, source = _unescaped(values[_EVENT_TYPE]), _unescaped(values[_SOURCE])
    elif raw is not None:
        try:
            rec = json.loads(raw)
        except ValueError:
            rec = {}
        if isinstance(rec, dict):
            source, event_type = rec.get("source"), rec.get("event_type")
    return {
        "stage": "loader",
        "reason": reason,
        "detail": Jsonb({"error": message}),
        "payload": payload.replace("\x00", "\ufffd"),
        "source": _text(source),
        "event_type": _text(event_type),
        "stream_id": stream_id,
        "rejected_at": None,
    }


def _unescaped(field: bytes) -> str | None:
    try:
        return copyrow.unescape(field)
    except UnicodeDecodeError:
        return field.decode(errors="replace")


def _text(value: Any) -> str | None:
    return value.replace("\x00", "\ufffd") if isinstance(value, str) and value else None


def insert_rejections(conn: psycopg.Connection, params: list[dict[str, Any]], *, stream: str) -> int:
    """Insert rejections of entries read from `stream` inside the caller's transaction; returns how many were set
    aside in a safe form.

    A row PostgreSQL refuses (jsonb refuses NUL escapes and lone surrogates, a btree refuses an oversized
    key, ...) is isolated by bisection under savepoints and kept as escaped text instead, so one poison
    rejection never blocks the others, nor the events behind it."""
    if not params:
        return 0
    params = [{**p, "stream": stream} for p in params]
    try:
        with conn.transaction():
            conn.cursor().executemany(load_sql("load/insert_rejected_event"), params)
        return 0
    except ROW_ERRORS as exc:
        if len(params) == 1:
            with conn.transaction():
                conn.execute(load_sql("load/insert_rejected_event"), storable(params[0], exc))
            return 1
    mid = len(params) // 2
    return insert_rejections(conn, params[:mid], stream=stream) + insert_rejections(conn, params[mid:], stream=stream)


def storable(row: dict[str, Any], error: Exception) -> dict[str, Any]:
    """A rejection PostgreSQL refused, in a form it cannot refuse: every text escaped (no NUL, no lone
    surrogate), short fields bounded, the original detail kept as JSON text inside the detail beside the
    refusal's reason."""
    detail = row.get("detail")
    original = detail.obj if isinstance(detail, Jsonb) else detail
    at = row.get("rejected_at")
    return {
        **{k: _escaped(row.get(k), MAX_SHORT_TEXT) for k in ("stage", "source", "event_type", "stream_id")},
        "stream": row["stream"],
        "reason": _escaped(row.get("reason"), MAX_SHORT_TEXT) or "unknown",
        "payload": _escaped(row.get("payload")) or "",
        "detail": Jsonb(
            {
                "unstorable": _first_line(error),
                "detail_text": _escaped(json.dumps(original, ensure_ascii=True, default=str)),
                "rejected_at_text": _escaped(str(at)) if at else None,
            }
        ),
        "rejected_at": None,
    }


def _escaped(value: Any, limit: int | None = None) -> str | None:
    """Text PostgreSQL stores as it is: NUL and lone surrogates become visible escapes; cut at `limit`
    characters (an indexed column has a size limit)."""
    if value is None:
        return None
    text = str(value).replace("\x00", "\\u0000").encode("utf-8", "backslashreplace").decode()
    if limit is not None and len(text) > limit:
        return f"{text[:limit]}… ({len(text)} characters)"
    return text


def _first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


def copy_collector_rejections(
    conn: psycopg.Connection,
    client: redis.Redis,
    *,
    stream: str,
    group: str,
    consumer: str,
    batch_size: int,
    reclaim_idle_ms: int,
    deadline: float,
) -> int:
    """Copy the collector's rejections into analytics.rejected_events (idempotent), then XACK them."""
    copied = 0
    for entries, _ in loader_stream.read_batches(
        client, stream, group, consumer, batch_size=batch_size, reclaim_idle_ms=reclaim_idle_ms, deadline=deadline
    ):
        params = [_collector_rejection(sid.decode(), f) for sid, f in entries if f]
        with conn.transaction():
            set_aside = insert_rejections(conn, params, stream=stream)
        if set_aside:
            log.warning("%d collector rejection(s) stored as escaped text: PostgreSQL refused them as sent", set_aside)
        client.xack(stream, group, *[sid for sid, _ in entries])
        copied += len(params)
    return copied


def _collector_rejection(stream_id: str, f: dict[bytes, bytes]) -> dict[str, Any]:
    def get(name: str) -> str | None:
        value = f.get(name.encode())
        return value.decode(errors="replace").replace("\x00", "\ufffd") if value else None

    errors_raw = get("errors")
    try:
        errors = json.loads(errors_raw) if errors_raw else []
    except ValueError:
        errors = [{"message": errors_raw}]
    stage = get("stage") or "collector"
    detail: dict[str, Any] = {"errors": errors}
    if stage not in ("collector", "segment"):
        detail["stage"], stage = stage, "collector"
    rejected_at = get("rejected_at")
    try:
        at = datetime.fromisoformat(rejected_at) if rejected_at else None
    except ValueError:
        at = None
    return {
        "stage": stage,
        "reason": get("reason") or "unknown",
        "detail": Jsonb(detail),
        "payload": get("payload") or "",
        "source": get("source"),
        "event_type": get("event_type"),
        "stream_id": stream_id,
        "rejected_at": at,
    }
