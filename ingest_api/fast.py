"""The hot path: plain POST /v1/track and /v1/track/batch requests answered below Flask's request machinery.

Under load, Flask's request context, request and response objects cost a single event ~170 µs of worker CPU out
of ~500 (BENCHMARKS.md, "How we got here"; the decomposition runs in its git history). This WSGI layer,
installed by the app factory around Flask's own `wsgi_app`, serves the plain case with the same validation
(`Ingestor.ingest`) and gives the answers the Flask views give: same statuses, bodies and headers
(tests/collect/test_collector_fast_path.py sends the same requests both ways and compares).

Only the plain case: POST on the two paths (and on the Segment batch paths `/segment/v1/b` and `/segment/v1/batch`,
without Content-Encoding: `{"batch": [...]}` answered by ingest_api.segment's own `process`), a JSON content type (`application/json` or a beacon's `text/plain`,
parameters aside), a Content-Length within MAX_CONTENT_LENGTH, a body that parses as JSON (for a batch:
{"events": [...]} with 1..max items), a valid write key (a header, or a batch's `writeKey`) when keys are
configured. Anything else goes to Flask untouched, before anything was written or counted, so Flask answers it
exactly as before (415, 413, 400, 401, other routes). CORS is the layer around both (ingest_api/cors.py).
ANALYTICS_COLLECTOR_FAST_PATH=0 sends everything through Flask.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

import orjson
import redis
from flask import Flask
from werkzeug.http import HTTP_STATUS_CODES

from analytics.collect.events import now_utc
from analytics.collect.ingest import Ingestor
from analytics.collect.refs import RefsUnavailable
from ingest_api import segment
from ingest_api.answers import JSON_HEADER, encode
from ingest_api.auth import given_write_key, matches
from ingest_api.errors import ApiError, envelope_body, unavailable, unexpected
from ingest_api.track import BODY_TYPES, parse_json, peer_address, rejected

_TRACK, _BATCH = "/v1/track", "/v1/track/batch"
# Segment batches (analytics.js posts to /b, the server SDKs to /batch), plain ones: no Content-Encoding.
_SEGMENT_BATCHES = frozenset((f"{segment.bp.url_prefix}/b", f"{segment.bp.url_prefix}/batch"))
_STATUS = {code: f"{code} {HTTP_STATUS_CODES[code].upper()}" for code in (200, 202, 400, 422, 500, 503)}  # as werkzeug


def _is_json(content_type: str | None) -> bool:
    """The mimetype Flask's request.mimetype would give is one the views read as JSON (track.BODY_TYPES:
    application/json, or text/plain from beacons), parameters such as charset aside."""
    return content_type == "application/json" or (
        content_type is not None and content_type.partition(";")[0].strip().lower() in BODY_TYPES
    )


class FastPath:
    def __init__(self, app: Flask, flask_wsgi: Callable):
        settings = app.extensions["analytics.settings"]
        self.app = app
        self.flask_wsgi = flask_wsgi
        self.ingestor: Ingestor = app.extensions["analytics.ingestor"]
        self.max_body = settings.max_body_bytes
        self.max_batch = settings.max_batch_events
        self.write_keys = settings.write_keys
        self.trusted_proxies = settings.trusted_proxies

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO")
        is_segment = path in _SEGMENT_BATCHES and environ.get("HTTP_CONTENT_ENCODING", "identity") == "identity"
        if (
            (path != _TRACK and path != _BATCH and not is_segment)
            or environ.get("REQUEST_METHOD") != "POST"
            or not _is_json(environ.get("CONTENT_TYPE"))
        ):
            return self.flask_wsgi(environ, start_response)
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return self.flask_wsgi(environ, start_response)
        if not 0 < length <= self.max_body:
            return self.flask_wsgi(environ, start_response)
        body = environ["wsgi.input"].read(length)
        try:
            raw = parse_json(body) if len(body) == length else None
        except ApiError:
            raw = None
        body_key = None
        if is_segment:
            messages = raw.get("batch") if isinstance(raw, dict) else None
            items = messages if isinstance(messages, list) else None
            body_key = raw.get("writeKey") if isinstance(raw, dict) else None
        elif path == _TRACK:
            items = [raw] if raw is not None else None
        else:
            events = raw.get("events") if isinstance(raw, dict) else None
            items = events if isinstance(events, list) and 0 < len(events) <= self.max_batch else None
            body_key = raw.get("writeKey") if isinstance(raw, dict) else None
        if items is None or (self.write_keys and not self._key_ok(environ, body_key)):
            # Flask reads the same bytes and answers (400, 401, 413, ...) as it always did
            environ["wsgi.input"] = io.BytesIO(body)
            return self.flask_wsgi(environ, start_response)
        if is_segment:
            return self._segment(environ, start_response, items, raw.get("sentAt"))
        return self._ingest(environ, start_response, path, items)

    def _segment(self, environ, start_response, messages: list[Any], sent_at: Any) -> Iterable[bytes]:
        """ingest_api.segment's batch view without Flask's request machinery: the same `process`, the same bytes."""
        ip = self._ip(environ)
        try:
            counts = segment.process(self.app, messages, sent_at, environ.get("HTTP_USER_AGENT"), ip)
        except Exception as exc:
            return self._failed(start_response, exc)
        # The bytes the view's `answer` sends (Flask's provider: compact, ASCII, a newline): for these ASCII keys and
        # integers that is orjson's text and "\n", without building a Response to read them back (~7 µs a request).
        data = orjson.dumps(counts) + b"\n"
        start_response(_STATUS[200], [JSON_HEADER, ("Content-Length", str(len(data)))])
        return [data]

    def _ingest(self, environ, start_response, path: str, items: list[Any]) -> Iterable[bytes]:
        ip = self._ip(environ)
        try:
            results = self.ingestor.ingest(items, now_utc(), environ.get("HTTP_USER_AGENT"), ip)
        except Exception as exc:
            return self._failed(start_response, exc)
        self.app.extensions["analytics.metrics"].count_results(results)
        if path == _BATCH:
            return self._json(start_response, 200, {"results": [r.as_dict() for r in results]})
        (result,) = results
        if result.status == "rejected":
            return self._error(start_response, rejected(result))
        return self._json(start_response, 202 if result.status == "accepted" else 200, result.as_dict())

    def _ip(self, environ: dict[str, Any]) -> str | None:
        return peer_address(environ.get("HTTP_X_FORWARDED_FOR", ""), environ.get("REMOTE_ADDR"), self.trusted_proxies)

    def _failed(self, start_response, exc: Exception) -> Iterable[bytes]:
        """What the Flask views' error handlers answer: 503 when a store is unavailable (retry), else 500."""
        if isinstance(exc, redis.RedisError | RefsUnavailable):
            return self._error(start_response, unavailable(exc))
        return self._error(start_response, unexpected())

    def _key_ok(self, environ: dict[str, Any], body_key: object) -> bool:
        """A key Flask would accept (ingest_api.auth.require_write_key); a refusal is Flask's to answer."""
        given = given_write_key(environ.get("HTTP_X_WRITE_KEY"), environ.get("HTTP_AUTHORIZATION", ""), body_key)
        return bool(given) and matches(given, self.write_keys)

    def _json(self, start_response, status: int, body: Any) -> Iterable[bytes]:
        """The bytes the views send (ingest_api.answers.encode, fast)."""
        data = encode(self.app, body, fast=True)
        start_response(_STATUS[status], [JSON_HEADER, ("Content-Length", str(len(data)))])
        return [data]

    def _error(self, start_response, error: ApiError) -> Iterable[bytes]:
        """The envelope as ingest_api.errors.envelope sends it."""
        data = encode(self.app, envelope_body(error.code, error.message, error.errors))
        headers = [JSON_HEADER, ("Content-Length", str(len(data))), *(error.headers or {}).items()]
        start_response(_STATUS[error.status], headers)
        return [data]


def install(app: Flask) -> None:
    """Put the fast path in front of Flask (inside the metrics wrapper, which counts and times its requests)."""
    if app.extensions["analytics.settings"].collector_fast_path:
        app.wsgi_app = FastPath(app, app.wsgi_app)  # type: ignore[method-assign]
