"""The project's one JSON error envelope, `{code, message, errors?}`: the collector's and the dashboard's."""

from __future__ import annotations

from typing import Any

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


def envelope_body(code: str, message: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if errors:
        body["errors"] = errors
    return body


def code_for(status: int) -> str:
    """The envelope's `code` for an HTTP error raised without one of its own."""
    return HTTP_CODES.get(status, "http_error")
