"""Airflow 3 plugin: the "Analytics pipeline" page, a FastAPI app mounted in the api-server and linked in the nav.

Airflow does not protect plugin apps, so every route but the static assets checks the caller: the Airflow
JWT the UI keeps in the `_token` cookie (or sends as a bearer token), validated by Airflow's own auth
manager, or the pipeline's admin token (`ANALYTICS_ADMIN_TOKEN`) as a bearer token. An expired or invalid session
is a 401 (the page sends the browser to Airflow's login); every error is the project's envelope `{code, message}`.
It reads the stores the DAGs read: the Airflow connections `analytics_postgres` / `analytics_redis`, else
DATABASE_URL / REDIS_URL, and says which (a broken connection is an error, never a silent fallback).
"""

from __future__ import annotations

import hmac
import time
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from analytics.config import Settings, get_settings
from analytics.connections import ConnectionInvalid
from analytics.envelope import code_for, envelope_body

STATIC_DIR = Path(__file__).with_name("analytics_dashboard_static")
URL_PREFIX = "/analytics-dashboard"
URL_ROUTE = "analytics-pipeline"
ADMIN_PRINCIPAL = "admin-token"
# Own assets only; framed by the Airflow UI (same origin), nobody else.
CSP = "default-src 'self'; frame-ancestors 'self'; object-src 'none'; base-uri 'none'"
SHARED_SECONDS = 5.0
_shared: dict[tuple[Settings, int], tuple[float, dict]] = {}
STORES_SECONDS = 30.0
_stores: dict[Settings, tuple[float, Settings, dict]] = {}
SESSION_INVALID = "Your Airflow session expired or is invalid: log in again"


def _root_path() -> str:
    """The api-server's base path (`[api] base_url`, as Airflow derives it), so links work behind a prefix."""
    from airflow.configuration import conf

    return urlsplit(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")


async def authenticate(request: Request, settings: Settings) -> str:
    """The caller's name; HTTP 401 without valid credentials (none, expired, invalid), 403 when not allowed."""
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credential:
        if settings.admin_token and hmac.compare_digest(credential.encode(), settings.admin_token.encode()):
            return ADMIN_PRINCIPAL
        token: str | None = credential
    else:
        from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN

        token = request.cookies.get(COOKIE_NAME_JWT_TOKEN)
    if not token:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Not authenticated", {"WWW-Authenticate": "Bearer"})

    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
    from airflow.api_fastapi.core_api.security import resolve_user_from_token

    try:
        manager = get_auth_manager()
    except RuntimeError as exc:  # not inside an api-server: only the admin token can work
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Airflow authentication is not available") from exc
    try:
        user = await resolve_user_from_token(token)
    except HTTPException as exc:  # Airflow answers an expired or forged JWT with 403 "Invalid JWT token"
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, SESSION_INVALID, {"WWW-Authenticate": "Bearer"}) from exc
    if not manager.is_authorized_view(access_view=AccessView.PLUGINS, user=user):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Not allowed to view plugins")
    return user.get_name()


def base_settings(request: Request) -> Settings:
    return request.app.state.settings or get_settings()


def _with_dag_stores(base: Settings) -> tuple[Settings, dict]:
    """`base` with the stores the DAGs read (analytics.connections: the Airflow connections when defined, else
    `base`'s DATABASE_URL / REDIS_URL), and where each came from. Looked up at most once per STORES_SECONDS: each
    lookup may query Airflow's metadata DB. A broken connection raises ConnectionInvalid (not cached)."""
    hit = _stores.get(base)
    if hit is not None and time.monotonic() - hit[0] < STORES_SECONDS:
        return hit[1], hit[2]
    from analytics.connections import resolve_postgres, resolve_redis

    pg, rd = resolve_postgres(base.database_url, base), resolve_redis(base.redis_url, base)
    resolved = base.with_overrides(database_url=pg.url, redis_url=rd.url)
    stores = {"postgres": pg.describe(), "redis": rd.describe()}
    if len(_stores) > 16:
        _stores.clear()
    _stores[base] = (time.monotonic(), resolved, stores)
    return resolved, stores


async def current_user(request: Request) -> str:
    return await authenticate(request, base_settings(request))


UserDep = Annotated[str, Depends(current_user)]


def create_app(settings: Settings | None = None) -> FastAPI:
    """The dashboard app; `settings` for tests, otherwise read from the environment on each request."""
    app = FastAPI(title="Analytics pipeline dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_api_route("/", page, methods=["GET"], include_in_schema=False)
    app.add_api_route("/login", login, methods=["GET"], include_in_schema=False)
    app.add_api_route("/api/overview", api_overview, methods=["GET"])
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(ConnectionInvalid, _connection_invalid)
    app.add_exception_handler(Exception, _unexpected)
    return app


def error_response(status_code: int, code: str, message: str, errors: list | None = None, headers=None) -> JSONResponse:
    """The project's error envelope (as the collector answers), never cached."""
    return JSONResponse(
        envelope_body(code, message, errors), status_code, headers={"Cache-Control": "no-store"} | dict(headers or {})
    )


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return error_response(exc.status_code, code_for(exc.status_code), str(exc.detail), headers=exc.headers)


async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [
        {
            "field": ".".join(str(p) for p in e.get("loc", ())[1:]),
            "rule": e.get("type", ""),
            "message": e.get("msg", ""),
        }
        for e in exc.errors()
    ]
    return error_response(400, "bad_request", "invalid query parameters", errors)


async def _connection_invalid(request: Request, exc: ConnectionInvalid) -> JSONResponse:
    return error_response(503, "connection_invalid", str(exc))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Starlette logs the exception itself; the caller gets the envelope, not the internals.
    return error_response(500, "internal_error", "internal error")


async def page(request: Request) -> Response:
    """The HTML page; without a valid session, off to Airflow's login and back."""
    try:
        await authenticate(request, base_settings(request))
    except HTTPException as exc:
        if exc.status_code != status.HTTP_401_UNAUTHORIZED:
            raise
        return _to_login(request)
    return FileResponse(
        STATIC_DIR / "index.html", headers={"Cache-Control": "no-store", "Content-Security-Policy": CSP}
    )


def api_overview(
    request: Request,
    who: UserDep,
    hours: Annotated[int, Query(ge=1, le=24, description="Hours of per-minute collector counts")] = 3,
) -> JSONResponse:
    """Every section of the page in one payload (see analytics.monitor.dashboard.overview), and which stores it read."""
    cfg, stores = _with_dag_stores(base_settings(request))  # after authentication: its errors name our stores
    body = _shared_overview(cfg, hours) | {"viewer": who, "stores": stores}
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


def _shared_overview(cfg: Settings, hours: int) -> dict:
    """One read of the stores per SHARED_SECONDS for all viewers: N open tabs cost what one does."""
    from analytics.monitor.dashboard import overview

    key = (cfg, hours)
    hit = _shared.get(key)
    if hit is not None and time.monotonic() - hit[0] < SHARED_SECONDS:
        return hit[1]
    body = overview(cfg, hours=hours)
    if len(_shared) > 64:  # a handful of settings x windows in practice; never grow without bound
        _shared.clear()
    _shared[key] = (time.monotonic(), body)
    return body


async def login(request: Request, next: str = "") -> Response:
    """Airflow's login, then back to `next` (a path on this server; anything else returns to this page). The page's
    script comes here on a 401, from inside the Airflow UI's frame or alone."""
    parts = urlsplit(next)
    safe = next.startswith("/") and not next.startswith(("//", "/\\")) and not (parts.scheme or parts.netloc)
    target = request.url.replace(path=parts.path, query=parts.query, fragment="") if safe else request.url_for("page")
    return _to_login(request, str(target))


def _to_login(request: Request, next_url: str | None = None) -> Response:
    try:
        from airflow.api_fastapi.app import get_auth_manager

        login_url = get_auth_manager().get_url_login(next_url=next_url or str(request.url))
    except RuntimeError:
        return error_response(status.HTTP_401_UNAUTHORIZED, "unauthorized", "Not authenticated")
    return RedirectResponse(login_url, status_code=status.HTTP_307_TEMPORARY_REDIRECT)


class AnalyticsDashboardPlugin(AirflowPlugin):
    """Registers the dashboard app and its nav entry ("Browse" menu, shown in an iframe)."""

    name = "analytics_dashboard"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "Analytics pipeline dashboard"}]
    external_views = [
        {
            "name": "Analytics pipeline",
            "href": f"{_root_path()}{URL_PREFIX}/",
            "icon": f"{_root_path()}{URL_PREFIX}/static/icon.svg",
            "url_route": URL_ROUTE,
            "destination": "nav",
            "category": "browse",
        }
    ]
