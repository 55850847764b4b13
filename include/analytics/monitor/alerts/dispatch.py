"""Send an alert to every enabled channel and record it; a channel that is down never hides it."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from analytics.config import Settings
from analytics.monitor.alerts.channels import enabled_channels
from analytics.monitor.alerts.model import Alert
from analytics.sql import load_sql

log = logging.getLogger("analytics.monitor.alerts")


def dumps(value: Any) -> str:
    """JSON text; datetimes as ISO 8601."""
    return json.dumps(value, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v))


def jsonb(value: Any) -> Jsonb:
    """Jsonb that also takes the datetimes alert details carry."""
    return Jsonb(value, dumps=dumps)


def send(alert: Alert, settings: Settings) -> dict[str, str]:
    """Log the alert, then try each channel; returns channel → "sent" | "failed: <error>". Never raises."""
    level = logging.INFO if alert.state == "resolved" or alert.severity == "info" else logging.ERROR
    log.log(level, "ALERT %s\n%s", alert.alert_key, alert.as_text())
    results: dict[str, str] = {}
    for name, sender in enabled_channels(settings).items():
        try:
            sender(alert, settings)
            results[name] = "sent"
        except Exception as exc:
            results[name] = f"failed: {type(exc).__name__}: {exc}"
            log.warning("alert channel %s failed for %s: %s", name, alert.alert_key, results[name])
    return results


def insert(conn, alert: Alert, channels: dict[str, str], at: datetime) -> int:
    row = conn.execute(
        load_sql("alerts/insert_alert"),
        {
            "kind": alert.kind,
            "alert_key": alert.alert_key,
            "severity": alert.severity,
            "state": alert.state,
            "title": alert.title,
            "message": alert.as_text(),
            "details": jsonb(alert.details | {"firstCheck": alert.first_check, "runbook": alert.runbook}),
            "dag_id": alert.dag_id,
            "task_id": alert.task_id,
            "run_id": alert.run_id,
            "log_url": alert.log_url,
            "channels": jsonb(channels),
            "at": at,
        },
    ).fetchone()
    return row[0]


def deliver(alert: Alert, settings: Settings, dsn: str | Exception, at: datetime) -> dict[str, str]:
    """send() then write the row to analytics.alerts on its own connection; a database error is logged, not raised.

    `dsn` may be the error that prevented finding the database: the channels are still told."""
    channels = send(alert, settings)
    if isinstance(dsn, Exception):
        channels["table"] = f"failed: {type(dsn).__name__}: {dsn}"
        return channels
    try:
        from analytics.db import connect

        with connect(dsn) as conn:
            insert(conn, alert, channels, at)
        channels["table"] = "recorded"
    except Exception as exc:
        channels["table"] = f"failed: {type(exc).__name__}: {exc}"
        log.exception("could not record alert %s in analytics.alerts", alert.alert_key)
    return channels
