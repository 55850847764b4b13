"""POST /v1/track and /v1/track/batch."""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
from flask import Blueprint, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from analytics.collect.events import inet_address, now_utc
from analytics.collect.ingest import Ingestor, Result
from analytics.config import Settings
from ingest_api.answers import answer
from ingest_api.auth import require_write_key
from ingest_api.errors import ApiError

bp = Blueprint("track", __name__, url_prefix="/v1")


# 19+ digits in a row may be an integer beyond 64 bits, which orjson would turn into a float. Found by mapping every
# digit to "0" and the rest to " ", then a plain substring search: ~12x faster than re's \d{19} on a 14 KB batch.
_DIGITS_AS_ZERO = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))
_LONG_RUN = b"0" * 19


def _no_constant(name: str) -> float:
    raise ApiError(400, "malformed_json", f"body is not valid JSON: {name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ApiError(400, "malformed_json", f"body is not valid JSON: {text[:40]} overflows a double")
    return value


def parse_json(data: bytes) -> Any:
    """The body as JSON, or 400 malformed_json. That includes an unpaired surrogate escape ("\\ud800"): json
    accepts it, but no UTF-8 text (the Redis command, the stream, Postgres) can carry it.

    orjson first (~6x faster); whatever it refuses or might alter (NaN, a BOM, a lone surrogate, a long integer)
    goes through json as before, which keeps the same answers and error texts. json's extensions NaN, Infinity and
    -Infinity, and numbers that overflow a double, are refused (they were stored as null)."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    else:
        if _LONG_RUN not in data.translate(_DIGITS_AS_ZERO):
            return value
    try:
        value = json.loads(data, parse_constant=_no_constant, parse_float=_finite)
        if b"\\ud" in data or b"\\uD" in data:  # rare: only then look for an unpaired one
            json.dumps(value, ensure_ascii=False).encode()
        return value
    except UnicodeEncodeError:
        raise ApiError(400, "malformed_json", "body is not valid JSON: unpaired surrogate escape") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "malformed_json", f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiError(400, "malformed_json", "body is nested too deeply") from None


# A refused body is read to its end (up to this much) before the 413 goes out: a server that closes a socket with
# unread input makes the kernel answer RST, and a client still sending then sees a reset instead of the 413.
DRAIN_MAX_BYTES = 64 * 1024 * 1024


def read_body() -> bytes:
    """The body, or 413 beyond MAX_CONTENT_LENGTH: by its Content-Length or, chunked, by what arrives."""
    try:
        data = request.get_data(cache=False)  # raises 413 when the Content-Length says so
        # Chunked, werkzeug stops at the limit without a word: one more byte tells a cut body from a whole one.
        if request.content_length is None and len(data) >= (current_app.config["MAX_CONTENT_LENGTH"] or len(data) + 1):
            if request.environ["wsgi.input"].read(1):
                raise RequestEntityTooLarge()
    except RequestEntityTooLarge:
        _drain(request.environ["wsgi.input"], request.content_length)
        raise
    return data


def _drain(stream: Any, declared: int | None) -> None:
    if declared is not None and declared > DRAIN_MAX_BYTES:
        return  # not worth reading: the client will see the connection close
    # Never past the declared length: a server that hands over the raw socket (werkzeug's) would wait for more.
    left = DRAIN_MAX_BYTES if declared is None else declared
    while left > 0:
        chunk = stream.read(min(65_536, left))
        if not chunk:
            return
        left -= len(chunk)


# text/plain: what navigator.sendBeacon and Segment's analytics.js send, a type that needs no CORS preflight.
BODY_TYPES = ("application/json", "text/plain")


def _json_body() -> Any:
    if request.environ.get("CONTENT_TYPE") != "application/json" and request.mimetype not in BODY_TYPES:
        raise ApiError(415, "unsupported_media_type", "send Content-Type: application/json (or text/plain)")
    return parse_json(read_body())


def peer_address(forwarded_for: str, remote_addr: str | None, hops: int) -> str | None:
    """The peer, or the address the configured number of trusted proxies saw (X-Forwarded-For, right to left);
    None when that is not an IP address (the event is kept, without an address: see `inet_address`)."""
    if hops > 0:
        forwarded = [p.strip() for p in forwarded_for.split(",") if p.strip()]
        if len(forwarded) >= hops:
            return inet_address(forwarded[-hops])
    return inet_address(remote_addr) if remote_addr else None


def client_ip(settings: Settings | None = None) -> str | None:
    hops = (settings or current_app.extensions["analytics.settings"]).trusted_proxies
    return peer_address(request.headers.get("X-Forwarded-For", ""), request.remote_addr, hops)


def rejected(result: Result) -> ApiError:
    """A rejected single event as its answer: 400 for the schema, 422 for the other layers."""
    status = 400 if result.reason == "schema" else 422
    return ApiError(status, result.reason or "invalid", result.message or "invalid event", result.errors)


def _ingest(items: list[Any]) -> list[Result]:
    ext = current_app.extensions
    ingestor: Ingestor = ext["analytics.ingestor"]
    results = ingestor.ingest(items, now_utc(), request.headers.get("User-Agent"), client_ip(ext["analytics.settings"]))
    ext["analytics.metrics"].count_results(results)
    return results


@bp.post("/track")
def track():
    require_write_key()
    (result,) = _ingest([_json_body()])
    if result.status == "rejected":
        raise rejected(result)
    return answer(result.as_dict(), 202 if result.status == "accepted" else 200, fast=True)


@bp.post("/track/batch")
def track_batch():
    raw = _json_body()
    # A batch may carry its write key as `writeKey` (a beacon cannot set headers), as Segment's batches do.
    require_write_key(raw.get("writeKey") if isinstance(raw, dict) else None)
    limit = current_app.extensions["analytics.settings"].max_batch_events
    if not isinstance(raw, dict) or not isinstance(raw.get("events"), list):
        raise ApiError(
            400,
            "schema",
            'body must be {"events": [...]}',
            [{"field": "events", "rule": "type", "message": "a list of events"}],
            refused=True,
        )
    if len(raw["events"]) > limit:
        raise ApiError(
            413,
            "batch_too_large",
            f"at most {limit} events per batch, got {len(raw['events'])}",
            [{"field": "events", "rule": "max_items", "message": f"at most {limit} events"}],
        )
    if not raw["events"]:
        return answer({"results": []})
    results = _ingest(raw["events"])
    return answer({"results": [r.as_dict() for r in results]}, fast=True)
