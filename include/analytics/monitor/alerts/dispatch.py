"""Send an alert to every enabled channel and record it; a channel that is down never hides it."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb

from analytics.config import Settings
from analytics.monitor.alerts.channels import enabled_channels
from analytics.monitor.alerts.model import Alert, linked
from analytics.sql import load_sql

log = logging.getLogger("analytics.monitor.alerts")

# Reaching analytics.alerts from a failure callback: Airflow kills the callback after ~25 s, and the channels come first.
DB_CONNECT_TIMEOUT_SECONDS = 5
DB_STATEMENT_TIMEOUT_MS = 5000


def dumps(value: Any) -> str:
    """JSON text; datetimes as ISO 8601."""
    return json.dumps(value, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v))


def jsonb(value: Any) -> Jsonb:
    """Jsonb that also takes the datetimes alert details carry."""
    return Jsonb(value, dumps=dumps)


def send(alert: Alert, settings: Settings, only: set[str] | None = None) -> dict[str, str]:
    """Log the alert, then try every channel (or those named in `only`) at once, each in its own thread; returns
    channel → "sent" | "failed: <error>". Never raises, and returns within settings.alert_timeout_seconds however many
    channels hang (one that has not answered by then is reported failed; its thread is left to finish on its own)."""
    alert = linked(alert, settings.runbook_url)
    level = logging.INFO if alert.state == "resolved" or alert.severity == "info" else logging.ERROR
    log.log(level, "ALERT %s\n%s", alert.alert_key, alert.as_text())
    results: dict[str, str] = {}
    lock = threading.Lock()

    def attempt(name: str, sender) -> None:
        try:
            sender(alert, settings)
            outcome = "sent"
        except Exception as exc:
            outcome = f"failed: {type(exc).__name__}: {exc}"
        with lock:
            results.setdefault(name, outcome)

    channels = {name: sender for name, sender in enabled_channels(settings).items() if only is None or name in only}
    threads = [
        threading.Thread(target=attempt, args=(name, sender), name=f"alert-{name}", daemon=True)
        for name, sender in channels.items()
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + settings.alert_timeout_seconds
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    with lock:
        for name in channels:
            results.setdefault(name, f"failed: no answer within {settings.alert_timeout_seconds:g}s")
        out = {name: results[name] for name in channels}
    for name, outcome in out.items():
        if outcome != "sent":
            log.warning("alert channel %s failed for %s: %s", name, alert.alert_key, outcome)
    return out


def insert(conn, alert: Alert, channels: dict[str, str], at: datetime, settings: Settings | None = None) -> int:
    """Record the alert (as sent: its runbook link under settings.runbook_url when given)."""
    if settings is not None:
        alert = linked(alert, settings.runbook_url)
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


def open_alerts_db(dsn: str, autocommit: bool = False):
    """A connection to analytics.alerts that gives up within seconds when PostgreSQL is down or stuck."""
    from analytics.db import connect

    return connect(
        dsn,
        autocommit=autocommit,
        connect_timeout=DB_CONNECT_TIMEOUT_SECONDS,
        statement_timeout_ms=DB_STATEMENT_TIMEOUT_MS,
    )


def deliver(alert: Alert, settings: Settings, dsn: str | Exception, at: datetime) -> dict[str, str]:
    """send() then write the row to analytics.alerts on its own connection; a database error is logged, not raised.

    `dsn` may be the error that prevented finding the database: the channels are still told."""
    channels = send(alert, settings)
    if isinstance(dsn, Exception):
        channels["table"] = f"failed: {type(dsn).__name__}: {dsn}"
        return channels
    try:
        with open_alerts_db(dsn) as conn:
            insert(conn, alert, channels, at, settings)
        channels["table"] = "recorded"
    except Exception as exc:
        channels["table"] = f"failed: {type(exc).__name__}: {exc}"
        log.exception("could not record alert %s in analytics.alerts", alert.alert_key)
    return channels


# How long a channel that could not be reached keeps being retried (events_monitor, every pass).
REDELIVER_HOURS = 24


def redeliver(conn, settings: Settings, now: datetime) -> list[str]:
    """Send firing alerts again to the channels that failed to take them (a webhook down, SMTP refusing) when they were
    sent: every monitor pass, for REDELIVER_HOURS after the alert was raised. Returns the keys re-sent."""
    done: list[str] = []
    still_down: set[str] = set()  # failed again this pass: not tried for the other alerts (a pass stays short)
    params = {"since": now - timedelta(hours=REDELIVER_HOURS), "stale": now - timedelta(minutes=2)}
    for row in conn.execute(load_sql("alerts/select_undelivered"), params):
        alert_id, kind, key, severity, text, details, dag_id, task_id, channels = row
        failed = {name for name, outcome in channels.items() if name != "table" and str(outcome).startswith("failed")}
        if not channels:  # recorded, then never sent (its callback killed in between): every channel
            failed = set(enabled_channels(settings))
        failed -= still_down
        if not failed:
            continue
        header, _, body = text.partition("\n")
        # The text as first sent (run, log, first check and runbook lines included), under the same header.
        title = header.split("] ", 2)[-1]
        again = Alert(
            kind=kind,
            alert_key=key,
            title=title,
            message=body,
            severity=severity,
            details=details,
            dag_id=dag_id,
            task_id=task_id,
        )
        outcome = send(again, settings, only=failed)
        still_down |= {name for name, result in outcome.items() if result != "sent"}
        conn.execute(load_sql("alerts/update_alert_channels"), {"id": alert_id, "channels": jsonb(outcome)})
        if any(v == "sent" for v in outcome.values()):
            done.append(key)
    if done:
        log.info("alerts re-sent to channels that had failed: %s", done)
    return done
