"""Write keys for the public endpoints, the admin token for the admin ones; compared in constant time."""

from __future__ import annotations

import base64
import binascii
import hmac

from flask import current_app, request

from ingest_api.errors import ApiError


def token_from(authorization: str) -> str | None:
    """The token of an Authorization header: a Bearer token, or the user of Basic auth (colon optional)."""
    scheme, _, value = authorization.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "basic" and value:
        try:
            return base64.b64decode(value, validate=True).decode().partition(":")[0] or None
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None


def _given_token() -> str | None:
    return token_from(request.headers.get("Authorization", ""))


def given_write_key(x_write_key: str | None, authorization: str, body_key: object = None) -> str | None:
    """The one write-key parser (native, Segment and the fast path): the body's `writeKey` (Segment SDKs send it
    there), else X-Write-Key, else the Authorization header's token (Bearer, or Basic with the key as user)."""
    if isinstance(body_key, str) and body_key:
        return body_key
    if x_write_key:
        return x_write_key.strip()
    return token_from(authorization)


def matches(given: str, allowed: tuple[str, ...]) -> bool:
    ok = False
    for candidate in allowed:  # no early exit: time does not tell which key came close
        ok |= hmac.compare_digest(given.encode(), candidate.encode())
    return ok


def require_write_key(body_key: object = None) -> None:
    """ANALYTICS_WRITE_KEYS unset = open (local use); else the key `given_write_key` finds must match."""
    allowed = current_app.extensions["analytics.settings"].write_keys
    if not allowed:
        return
    given = given_write_key(request.headers.get("X-Write-Key"), request.headers.get("Authorization", ""), body_key)
    if not given:
        msg = "missing write key (X-Write-Key, Bearer or Basic auth; /v1/track/batch and /segment also read the body's"
        msg += " writeKey)"
        raise ApiError(401, "unauthorized", msg)
    if not matches(given, allowed):
        raise ApiError(401, "unauthorized", "unknown write key")


def require_admin() -> None:
    token = current_app.extensions["analytics.settings"].admin_token
    if not token:
        raise ApiError(403, "forbidden", "admin endpoints are disabled: ANALYTICS_ADMIN_TOKEN is not set")
    given = request.headers.get("X-Admin-Token") or _given_token()
    if not given:
        raise ApiError(401, "unauthorized", "missing admin token (Authorization: Bearer …)")
    if not matches(given, (token,)):
        raise ApiError(401, "unauthorized", "wrong admin token")
