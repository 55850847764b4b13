"""Segment-compatible ingestion under /segment: the official Segment and RudderStack SDKs, unmodified.

Those SDKs treat only 200 as success and drop a whole batch on any other 4xx, so a message that does not
map or does not validate is quarantined with its reason (stage "segment") and the request still answers
200; only an unauthorised or unreadable request gets a 4xx, with the `{code, message}` body they parse.
"""

from __future__ import annotations

import zlib
from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, current_app, request

from analytics.collect.events import now_utc
from analytics.collect.ingest import Ingestor, Result
from analytics.collect.segment_map import SegmentMapper, Unmapped, parse_pairs
from ingest_api.answers import answer
from ingest_api.auth import require_write_key
from ingest_api.errors import ApiError
from ingest_api.track import client_ip, parse_json, read_body

bp = Blueprint("segment", __name__, url_prefix="/segment/v1")

STAGE = "segment"
CHUNK = 500  # messages per atomic Redis call, so one script never carries a whole 1 MB body


def mapper_for(app: Flask) -> SegmentMapper:
    mapper = app.extensions.get("analytics.segment_mapper")
    if mapper is None:
        settings = app.extensions["analytics.settings"]
        mapper = SegmentMapper(extra=parse_pairs(settings.segment_event_map))
        app.extensions["analytics.segment_mapper"] = mapper
    return mapper


def _body() -> dict[str, Any]:
    limit = current_app.extensions["analytics.settings"].max_body_bytes
    data = read_body()
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding == "gzip":
        data = gunzip_bounded(data, limit)
    elif encoding not in ("", "identity"):
        raise ApiError(415, "unsupported_encoding", f"Content-Encoding {encoding!r} is not supported; use gzip")
    body = parse_json(data)
    if not isinstance(body, dict):
        raise ApiError(400, "schema", "body must be a JSON object", refused=True)
    return body


def gunzip_bounded(data: bytes, limit: int) -> bytes:
    """Inflate at most `limit` bytes; a body that would inflate further (a gzip bomb) is refused with 413."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise ApiError(400, "malformed_gzip", f"body is not valid gzip: {exc}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise ApiError(413, "payload_too_large", f"body inflates beyond {limit} bytes")
    if not inflater.eof:
        raise ApiError(400, "malformed_gzip", "gzip body is truncated")
    return out


def _quarantine(ingestor: Ingestor, items: list[tuple[Any, str, str]], received_at: datetime) -> None:
    """Keep messages that map to no event, with the reason, in the collector's rejected stream."""
    if items:
        ingestor.record_rejections(
            [(raw, reason, [{"field": "type", "rule": reason, "message": msg}]) for raw, reason, msg in items],
            received_at,
            stage=STAGE,
        )


def process(app: Flask, messages: list[Any], sent_at: Any, user_agent: str | None, ip: str | None) -> dict[str, Any]:
    """Map, validate and append a batch of Segment messages; the answer's body. Used by the views below and, for a
    plain `/b` or `/batch` request, by the fast path (ingest_api/fast.py). Raises what `Ingestor.ingest` raises."""
    ingestor: Ingestor = app.extensions["analytics.ingestor"]
    mapper = mapper_for(app)
    received_at = now_utc()
    mapped: list[dict[str, Any]] = []
    unmapped: list[tuple[Any, str, str]] = []
    for msg in messages:
        try:
            mapped.append(mapper.map(msg, sent_at))
        except Unmapped as exc:
            unmapped.append((msg, exc.reason, exc.message))
    _quarantine(ingestor, unmapped, received_at)
    results: list[Result] = []
    for start in range(0, len(mapped), CHUNK):
        # Events that do not validate are kept by the ingestor itself, under our stage.
        results += ingestor.ingest(mapped[start : start + CHUNK], received_at, user_agent, ip, stage=STAGE)
    metrics = app.extensions["analytics.metrics"]
    metrics.count_results(results + [Result("rejected", reason=reason) for _, reason, _ in unmapped])
    counts = {"accepted": 0, "duplicate": 0, "quarantined": len(unmapped)}
    for r in results:
        counts["quarantined" if r.status == "rejected" else r.status] += 1
    return {"success": True, **counts}


def _process(messages: list[Any], sent_at: Any) -> dict[str, Any]:
    return process(current_app, messages, sent_at, request.headers.get("User-Agent"), client_ip())


@bp.post("/batch")
@bp.post("/b")  # analytics.js (analytics-next) with its batching delivery strategy
def batch():
    body = _body()
    require_write_key(body.get("writeKey"))
    messages = body.get("batch")
    if not isinstance(messages, list):
        raise ApiError(400, "schema", 'body must be {"batch": [...]}', refused=True)
    return answer(_process(messages, body.get("sentAt")))


def _single(kind: str):
    body = _body()
    require_write_key(body.get("writeKey"))
    message = {k: v for k, v in body.items() if k != "writeKey"}
    message["type"] = kind
    return answer(_process([message], body.get("sentAt")))


# Each call under its name and under the one-letter path analytics.js (analytics-next) posts it to, as text/plain
# JSON with the writeKey inside; group and alias calls are answered 200 and quarantined as unsupported_call.
for _kind in ("track", "page", "identify", "screen", "group", "alias"):
    bp.add_url_rule(f"/{_kind}", f"single_{_kind}", lambda kind=_kind: _single(kind), methods=["POST"])
    bp.add_url_rule(f"/{_kind[0]}", f"short_{_kind}", lambda kind=_kind: _single(kind), methods=["POST"])
