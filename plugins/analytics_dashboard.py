"""Airflow 3 plugin: the "Analytics pipeline" page, a FastAPI app mounted in the api-server and linked in the nav.

Airflow does not protect plugin apps, so every route but the static assets checks the caller: the Airflow
JWT the UI keeps in the `_token` cookie (or sends as a bearer token), validated by Airflow's own auth
manager, or the pipeline's admin token (`ANALYTICS_ADMIN_TOKEN`) as a bearer token. It reads the stores the
DAGs read: the Airflow connections `analytics_postgres` / `analytics_redis`, else DATABASE_URL / REDIS_URL.
"""

from __future__ import annotations

import hmac
import time
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from analytics.config import Settings, get_settings

STATIC_DIR = Path(__file__).with_name("analytics_dashboard_static")
URL_PREFIX = "/analytics-dashboard"
URL_ROUTE = "analytics-pipeline"
ADMIN_PRINCIPAL = "admin-token"
# Own assets only; framed by the Airflow UI (same origin), nobody else.
CSP = "default-src 'self'; frame-ancestors 'self'; object-src 'none'; base-uri 'none'"
SHARED_SECONDS = 5.0
_shared: dict[tuple[Settings, int], tuple[float, dict]] = {}
STORES_SECONDS = 30.0
_stores: dict[Settings, tuple[float, Settings]] = {}


def _root_path() -> str:
    """The api-server's base path (`[api] base_url`, as Airflow derives it), so links work behind a prefix."""
    from airflow.configuration import conf

    return urlsplit(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")


async def authenticate(request: Request, settings: Settings) -> str:
    """The caller's name; HTTP 401 without credentials, 403 for an invalid or unauthorised one."""
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
    user = await resolve_user_from_token(token)
    if not manager.is_authorized_view(access_view=AccessView.PLUGINS, user=user):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Not allowed to view plugins")
    return user.get_name()


def current_settings(request: Request) -> Settings:
    return _with_dag_stores(request.app.state.settings or get_settings())


def _with_dag_stores(base: Settings) -> Settings:
    """`base` with the stores the DAGs read: the Airflow connections `analytics_postgres` / `analytics_redis` when
    they are defined (UI, CLI, secrets backend, AIRFLOW_CONN_*), else `base`'s own DATABASE_URL / REDIS_URL.
    Looked up at most once per STORES_SECONDS: each lookup may query Airflow's metadata DB."""
    hit = _stores.get(base)
    if hit is not None and time.monotonic() - hit[0] < STORES_SECONDS:
        return hit[1]
    from analytics.connections import postgres_dsn, redis_url

    resolved = base.with_overrides(database_url=postgres_dsn(base.database_url), redis_url=redis_url(base.redis_url))
    if len(_stores) > 16:
        _stores.clear()
    _stores[base] = (time.monotonic(), resolved)
    return resolved


SettingsDep = Annotated[Settings, Depends(current_settings)]


async def current_user(request: Request, cfg: SettingsDep) -> str:
    return await authenticate(request, cfg)


UserDep = Annotated[str, Depends(current_user)]


def create_app(settings: Settings | None = None) -> FastAPI:
    """The dashboard app; `settings` for tests, otherwise read from the environment on each request."""
    app = FastAPI(title="Analytics pipeline dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_api_route("/", page, methods=["GET"], include_in_schema=False)
    app.add_api_route("/api/overview", api_overview, methods=["GET"])
    return app


async def page(request: Request, cfg: SettingsDep) -> Response:
    """The HTML page; without a session, off to Airflow's login and back."""
    try:
        await authenticate(request, cfg)
    except HTTPException as exc:
        if exc.status_code != status.HTTP_401_UNAUTHORIZED:
            raise
        return _to_login(request)
    return FileResponse(
        STATIC_DIR / "index.html", headers={"Cache-Control": "no-store", "Content-Security-Policy": CSP}
    )


def api_overview(
    cfg: SettingsDep,
    who: UserDep,
    hours: Annotated[int, Query(ge=1, le=24, description="Hours of per-minute collector counts")] = 3,
) -> JSONResponse:
    """Every section of the page in one payload (see analytics.monitor.dashboard.overview)."""
    body = _shared_overview(cfg, hours) | {"viewer": who}
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


def _to_login(request: Request) -> Response:
    try:
        from airflow.api_fastapi.app import get_auth_manager

        login = get_auth_manager().get_url_login(next_url=str(request.url))
    except RuntimeError:
        return JSONResponse({"detail": "Not authenticated"}, status_code=status.HTTP_401_UNAUTHORIZED)
    return RedirectResponse(login, status_code=status.HTTP_307_TEMPORARY_REDIRECT)


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
