"""POST /v1/track and /v1/track/batch."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, current_app, request

from analytics.events import (
    EventRejected,
    FieldError,
    Rules,
    encode,
    fingerprint,
    new_event_id,
    normalise,
    now_utc,
    parse_event,
)
from ingest_api.errors import ApiError

bp = Blueprint("track", __name__, url_prefix="/v1")


def _json_body() -> Any:
    if not request.mimetype or request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", "send Content-Type: application/json")
    data = request.get_data(cache=False)
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "malformed_json", f"body is not valid JSON: {exc}") from None


def _rules() -> Rules:
    from datetime import timedelta

    s = current_app.extensions["analytics.settings"]
    return Rules(
        max_age=timedelta(days=s.max_event_age_days),
        max_future=timedelta(seconds=s.max_future_skew_seconds),
        backfill_sources=s.backfill_sources,
    )


def _client_ip() -> str | None:
    hops = current_app.extensions["analytics.settings"].trusted_proxies
    if hops > 0:
        forwarded = [p.strip() for p in request.headers.get("X-Forwarded-For", "").split(",") if p.strip()]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return request.remote_addr


def _prepare(raw: Any, received_at, rules: Rules, ua: str | None, ip: str | None):
    event = parse_event(raw)
    record = normalise(event, received_at=received_at, rules=rules, user_agent=ua, ip_address=ip)
    record["id"] = new_event_id()
    record["received_at"] = received_at.isoformat(timespec="microseconds").replace("+00:00", "Z")
    record["fingerprint"] = fingerprint(record)
    return record


def _result(outcome) -> tuple[dict[str, Any], int]:
    if outcome.status == "accepted":
        return {"id": outcome.id, "status": "accepted"}, 202
    return {"id": outcome.id, "status": "duplicate", "reason": outcome.detail}, 200


@bp.post("/track")
def track():
    raw = _json_body()
    received_at = now_utc()
    try:
        record = _prepare(raw, received_at, _rules(), request.headers.get("User-Agent"), _client_ip())
    except EventRejected as exc:
        raise ApiError(
            422 if exc.reason != "schema" else 400, exc.reason, str(exc), [e.as_dict() for e in exc.errors]
        ) from None
    writer = current_app.extensions["analytics.writer"]
    (outcome,) = writer.append(
        [(record["id"], record["fingerprint"], record["source"], record["idempotency_key"], encode(record))]
    )
    body, status = _result(outcome)
    return body, status


@bp.post("/track/batch")
def track_batch():
    raw = _json_body()
    limit = current_app.extensions["analytics.settings"].max_batch_events
    if not isinstance(raw, dict) or not isinstance(raw.get("events"), list):
        raise ApiError(
            400,
            "schema",
            'body must be {"events": [...]}',
            [FieldError("events", "type", "a list of events").as_dict()],
        )
    items = raw["events"]
    if len(items) > limit:
        raise ApiError(413, "batch_too_large", f"at most {limit} events per batch, got {len(items)}")
    received_at = now_utc()
    rules = _rules()
    ua, ip = request.headers.get("User-Agent"), _client_ip()
    results: list[dict[str, Any] | None] = [None] * len(items)
    pending: list[tuple[int, dict[str, Any]]] = []
    for i, item in enumerate(items):
        try:
            pending.append((i, _prepare(item, received_at, rules, ua, ip)))
        except EventRejected as exc:
            results[i] = {"status": "rejected", "reason": exc.reason, "errors": [e.as_dict() for e in exc.errors]}
    writer = current_app.extensions["analytics.writer"]
    outcomes = writer.append(
        [(r["id"], r["fingerprint"], r["source"], r["idempotency_key"], encode(r)) for _, r in pending]
    )
    for (i, _), outcome in zip(pending, outcomes, strict=True):
        results[i] = _result(outcome)[0]
    return {"results": results}, 207 if any(r["status"] == "rejected" for r in results) else 202
