"""events_monitor: run the checks (analytics.monitor.checks), turn breaches into deduplicated alerts, record the pass."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from analytics.config import Settings
from analytics.db import connect
from analytics.monitor.alerts.conditions import Origin, reconcile
from analytics.monitor.alerts.dispatch import REDELIVER_HOURS, dumps, jsonb, redeliver
from analytics.monitor.checks import (
    Report,
    alert,
    check_collector,
    check_counts,
    check_enrich,
    check_load,
    check_nightly,
    check_redis_durability,
    check_stream,
    check_stream_history,
)
from analytics.monitor.heartbeat import ping
from analytics.redis_client import open_redis
from analytics.sql import load_sql

log = logging.getLogger(__name__)

MONITOR_DAG, MONITOR_TASK = "events_monitor", "check"  # the task that calls run_monitor
CHECK_FAILED = "monitor.check_failed."  # + the step's name: the alert of a check that could not run


def collect(conn, client: redis.Redis, s: Settings, now: datetime) -> Report:
    """Run every check; a check that cannot run raises its own alert and leaves its conditions as they were."""
    report = Report()
    steps: dict[str, Callable[[], None]] = {
        "collector": lambda: check_collector(report, client, s, now),
        "stream": lambda: check_stream(report, client, s, now),
        "stream_history": lambda: check_stream_history(report, client, conn, s, now),
        "redis_durability": lambda: check_redis_durability(report, client, s, now),
        "load": lambda: check_load(report, conn, s, now),
        "counts": lambda: check_counts(report, client, conn, s, now),
        "nightly": lambda: check_nightly(report, conn, s, now),
        "enrich": lambda: check_enrich(report, conn, s, now),
    }
    for name, step in steps.items():
        kind = f"{CHECK_FAILED}{name}"
        try:
            step()
            report.checked.add(kind)
        except Exception as exc:
            log.exception("monitor check %s failed", name)
            report.figures[name] = {"error": f"{type(exc).__name__}: {exc}"}
            report.findings.append(
                alert(
                    kind,
                    "",
                    f"Monitor check '{name}' cannot run: {type(exc).__name__}",
                    [f"{type(exc).__name__}: {exc}", "Its conditions are unknown until it runs again."],
                    'Is the store it reads reachable? `redis-cli -u "$REDIS_URL" ping`, '
                    '`pg_isready -d "$DATABASE_URL"`.',
                )
            )
    return report


def monitor(
    dsn: str,
    client: redis.Redis,
    s: Settings,
    now: datetime,
    run_id: str | None = None,
    log_url: str | None = None,
) -> dict[str, Any]:
    """One monitor pass: checks, alert reconciliation, and a record in analytics.job_runs (job = monitor).

    Alerts name this run and its log (`run_id`, `log_url`)."""
    with connect(dsn, autocommit=True) as conn:
        report = collect(conn, client, s, now)
        origin = Origin(dag_id=MONITOR_DAG, task_id=MONITOR_TASK, run_id=run_id, log_url=log_url)
        outcome = reconcile(conn, report.findings, report.checked, s, now, origin)
        result = {"figures": report.figures, "alerts": outcome.as_dict()}
        # Alerts a channel did not take when they were sent (this pass's included): that channel is tried again.
        result["alerts"]["redelivered"] = redeliver(conn, s, now)
        # After the alerts went out and before the row: the row then says whether the heartbeat went out, and why
        # not (what on-call reads first when the heartbeat service pages), for a delay of ALERT_TIMEOUT_SECONDS at
        # most. A row that then cannot be written fails the task, which pages on its own.
        result["heartbeat"] = heartbeat(conn, report, s, now)
        conn.execute(
            load_sql("monitor/insert_job_run"),
            {
                "run_id": run_id,
                "start": now - timedelta(minutes=s.monitor_window_minutes),
                "end": now,
                "started_at": now,
                "finished_at": datetime.now(UTC),
                "stats": jsonb(result),
            },
        )
    return result


def heartbeat(conn, report: Report, s: Settings, now: datetime) -> str:
    """Ping ANALYTICS_HEARTBEAT_URL when every check ran and on-call heard of every firing alert: a monitor that cannot
    see, or whose alerts every channel refused, stays silent, and the heartbeat service pages after its grace period.
    "sent" | "failed: <error>" | "skipped: checks failed: <names>" | "skipped: alerts no channel took: <keys>" | "off"."""
    if not s.heartbeat_url:
        return "off"
    blind = [f.kind.removeprefix(CHECK_FAILED) for f in report.findings if f.kind.startswith(CHECK_FAILED)]
    if blind:
        return "skipped: checks failed: " + ", ".join(blind)
    since = now - timedelta(hours=REDELIVER_HOURS)
    unheard = [key for (key,) in conn.execute(load_sql("alerts/select_unheard"), {"since": since})]
    if unheard:
        return "skipped: alerts no channel took: " + ", ".join(unheard)
    return ping(s.heartbeat_url, s.alert_timeout_seconds)


def run_monitor(run_id: str | None = None, log_url: str | None = None) -> dict[str, Any]:
    """The events_monitor task: stores from the Airflow connections, wall-clock now."""
    from analytics.config import get_settings
    from analytics.connections import postgres_dsn, redis_url

    s = get_settings()
    client = open_redis(redis_url(), s, socket_timeout=s.redis_timeout_seconds * 5)
    try:
        result = monitor(postgres_dsn(), client, s, datetime.now(UTC), run_id=run_id, log_url=log_url)
    finally:
        client.close()
    return json.loads(dumps(result))  # the XCom: plain JSON
