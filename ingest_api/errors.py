"""One JSON error envelope for every failure: {code, message, errors?}."""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException

from analytics.collect.keys import STATS_TTL_SECONDS, stat_field, stats_bucket
from analytics.collect.refs import RefsUnavailable
from analytics.envelope import code_for, envelope_body
from ingest_api.answers import answer

log = logging.getLogger(__name__)

# Whole requests refused before any event was parsed: counted (as rejected, by this code), not kept.
REFUSAL_CODES = frozenset(
    {
        "malformed_json",
        "malformed_gzip",
        "unsupported_media_type",
        "unsupported_encoding",
        "payload_too_large",
        "batch_too_large",
    }
)
_INGEST_PREFIXES = ("/v1/track", "/segment/")


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        *,
        refused: bool = False,
    ):
        super().__init__(message)
        self.status, self.code, self.message, self.errors, self.headers = status, code, message, errors, headers
        self.refused = refused or code in REFUSAL_CODES


def envelope(
    status: int,
    code: str,
    message: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return answer(envelope_body(code, message, errors), status, headers)


def count_refusal(code: str) -> None:
    """Best effort: a refused request is counted as one rejection by `code`; Redis trouble only logs."""
    if not request.path.startswith(_INGEST_PREFIXES):
        return
    metrics = current_app.extensions.get("analytics.metrics")
    if metrics is not None:
        metrics.child(metrics.events, "rejected", code).inc()
    keys = current_app.extensions["analytics.keys"]
    try:
        key = keys.stats(stats_bucket())
        pipe = current_app.extensions["analytics.redis"].pipeline(transaction=False)
        pipe.hincrby(key, stat_field("rejected", code, "", ""), 1)
        pipe.expire(key, STATS_TTL_SECONDS)
        pipe.execute()
    except redis.RedisError as exc:
        log.warning("could not count refused request: %s", type(exc).__name__)


def unavailable(exc: redis.RedisError | RefsUnavailable) -> ApiError:
    """A store failure as the 503 it is answered with, logged. Transient: the client retries; whatever of the call
    did reach the stream answers the retry as a duplicate. Redis's own refusal (OOM, WRONGTYPE, a script error) is
    logged with its text: on-call needs it. Connection errors by type only (their text repeats the address)."""
    if isinstance(exc, RefsUnavailable):
        log.warning("reference check unavailable: %s", exc)
        what = "reference check"
    else:
        if isinstance(exc, redis.ResponseError):
            log.warning("redis refused the write: %s", str(exc)[:300])
        else:
            log.warning("redis unavailable: %s", type(exc).__name__)
        what = "event store"
    return ApiError(503, "unavailable", f"{what} temporarily unavailable; retry later", headers={"Retry-After": "1"})


def unexpected() -> ApiError:
    log.exception("unhandled error")
    return ApiError(500, "internal_error", "internal error")


def register(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        if exc.refused:
            count_refusal(exc.code)
        return envelope(exc.status, exc.code, exc.message, exc.errors, exc.headers)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        code = code_for(status)
        if code in REFUSAL_CODES:
            count_refusal(code)
        return envelope(status, code, exc.description or exc.name)

    @app.errorhandler(redis.RedisError)
    @app.errorhandler(RefsUnavailable)
    def _store_down(exc: redis.RedisError | RefsUnavailable):
        return _api_error(unavailable(exc))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        return _api_error(unexpected())
