"""Airflow REST API v2 client for the collector's admin flush: JWT from /auth/token, then trigger a DAG run."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

from analytics.config import Settings

LOAD_DAG_ID = "events_load"


class AirflowApiError(Exception):
    """The Airflow API refused or could not be reached; `status` is its HTTP status (0 = unreachable)."""

    def __init__(self, message: str, status: int = 0):
        super().__init__(message)
        self.status = status


def _post(url: str, body: dict[str, Any], timeout: float, token: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (URL from settings)
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:500].decode("utf-8", "replace")
        raise AirflowApiError(f"{url} answered {exc.code}: {detail}", exc.code) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise AirflowApiError(f"{url} unreachable: {exc}") from None
    except ValueError as exc:
        raise AirflowApiError(f"{url} answered with invalid JSON: {exc}") from None


def get_token(settings: Settings) -> str:
    """A JWT from Airflow's /auth/token (simple or FAB auth manager) for the configured API user."""
    if not settings.airflow_username or not settings.airflow_password:
        raise AirflowApiError("AIRFLOW_API_USERNAME and AIRFLOW_API_PASSWORD are not set")
    body = _post(
        f"{settings.airflow_api_url}/auth/token",
        {"username": settings.airflow_username, "password": settings.airflow_password},
        settings.airflow_timeout_seconds,
    )
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise AirflowApiError("/auth/token answered without an access_token")
    return token


def trigger_dag_run(settings: Settings, dag_id: str = LOAD_DAG_ID, conf: dict[str, Any] | None = None) -> dict:
    """Trigger a run now; returns {dagId, dagRunId, state, logicalDate}."""
    token = get_token(settings)
    body = _post(
        f"{settings.airflow_api_url}/api/v2/dags/{quote(dag_id, safe='')}/dagRuns",
        {"logical_date": None, "conf": conf or {}},
        settings.airflow_timeout_seconds,
        token,
    )
    run_id = body.get("dag_run_id")
    if not run_id:
        raise AirflowApiError("dagRuns answered without a dag_run_id")
    return {"dagId": dag_id, "dagRunId": run_id, "state": body.get("state"), "logicalDate": body.get("logical_date")}
