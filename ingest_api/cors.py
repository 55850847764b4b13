"""CORS for the public ingestion endpoints, so web pages on other origins can send events.

One WSGI layer around the fast path and Flask (both answer the same, whichever serves the request), installed
only when ANALYTICS_CORS_ORIGINS is set: with it unset, requests cost nothing more. It answers preflights
(OPTIONS with an allowed Origin) itself and adds Access-Control-Allow-Origin to the answers of allowed origins.
Only `/v1/track`, `/v1/track/batch` and `/segment/...` take part; the admin, health and metrics endpoints never
answer cross-origin (no header, so the browser refuses to hand the answer to the page).
No credentials: write keys travel in a header or the body, never in cookies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

PUBLIC_PATHS = frozenset({"/v1/track", "/v1/track/batch"})
PUBLIC_PREFIX = "/segment/"
ALLOW_METHODS = "POST, OPTIONS"
# Authorization / X-Write-Key carry write keys; Content-Encoding: gzip is what Segment's batching sends.
ALLOW_HEADERS = "Content-Type, Content-Encoding, Authorization, X-Write-Key"
MAX_AGE = "7200"  # Chromium's cap on caching a preflight


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIX)


class Cors:
    """WSGI middleware: preflights answered here, the allowed origin added to every public answer."""

    def __init__(self, wrapped: Callable, origins: tuple[str, ...]):
        self.wrapped = wrapped
        self.any_origin = "*" in origins
        self.origins = frozenset(origins) - {"*"}

    def allowed(self, origin: str | None) -> str | None:
        """The Access-Control-Allow-Origin value for `origin`, or None when it may not read answers."""
        if not origin:
            return None
        if self.any_origin:
            return "*"
        return origin if origin in self.origins else None

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or ""
        allow = self.allowed(environ.get("HTTP_ORIGIN")) if is_public(path) else None
        if allow is None:
            return self.wrapped(environ, start_response)
        headers = [("Access-Control-Allow-Origin", allow)]
        if allow != "*":
            headers.append(("Vary", "Origin"))  # caches must not hand this answer to another origin
        if environ.get("REQUEST_METHOD") == "OPTIONS" and environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD"):
            headers += [
                ("Access-Control-Allow-Methods", ALLOW_METHODS),
                ("Access-Control-Allow-Headers", ALLOW_HEADERS),
                ("Access-Control-Max-Age", MAX_AGE),
                ("Content-Length", "0"),
            ]
            start_response("204 NO CONTENT", headers)
            return [b""]
        headers.append(("Access-Control-Expose-Headers", "Retry-After"))

        def with_cors(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None):
            return start_response(status, response_headers + headers, exc_info)

        return self.wrapped(environ, with_cors)


def install(app: Flask) -> None:
    """Around the fast path and Flask (inside the metrics wrapper), only when origins are configured."""
    origins = app.extensions["analytics.settings"].cors_origins
    if origins:
        app.wsgi_app = Cors(app.wsgi_app, origins)  # type: ignore[method-assign]
