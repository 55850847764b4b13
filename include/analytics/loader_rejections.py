"""Rejected entries: the loader's own (stage `loader`) and the collector's, copied from `{prefix}:rejected`."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import psycopg
import redis
from psycopg.types.json import Jsonb

from analytics import copyrow, loader_stream
from analytics.sql import load_sql

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
        if params:
            with conn.transaction():
                conn.cursor().executemany(load_sql("load/insert_rejected_event"), params)
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
