"""Write keys for the public endpoints, the admin token for the admin ones; compared in constant time."""

from __future__ import annotations

import base64
import binascii
import hmac

from flask import current_app, request

from ingest_api.errors import ApiError


def token_from(authorization: str) -> str | None:
    """The token of an Authorization header: a Bearer token, or the user of Basic auth."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    if scheme.lower() == "basic" and value:
        try:
            return base64.b64decode(value, validate=True).decode().partition(":")[0] or None
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None


def _given_token() -> str | None:
    return token_from(request.headers.get("Authorization", ""))


def given_write_key(x_write_key: str | None, authorization: str) -> str | None:
    """X-Write-Key, else the Authorization header's token."""
    return x_write_key or token_from(authorization)


def matches(given: str, allowed: tuple[str, ...]) -> bool:
    ok = False
    for candidate in allowed:  # no early exit: time does not tell which key came close
        ok |= hmac.compare_digest(given.encode(), candidate.encode())
    return ok


def require_write_key() -> None:
    """ANALYTICS_WRITE_KEYS unset = open (local use); else X-Write-Key, Bearer or Basic user must match."""
    allowed = current_app.extensions["analytics.settings"].write_keys
    if not allowed:
        return
    given = given_write_key(request.headers.get("X-Write-Key"), request.headers.get("Authorization", ""))
    if not given:
        raise ApiError(401, "unauthorized", "missing write key (X-Write-Key, Bearer or Basic auth)")
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
