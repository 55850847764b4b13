"""Monitor alerts with memory: page once per condition, remind after the cooldown, say when it cleared."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from analytics.config import Settings
from analytics.db import connect
from analytics.monitor.alerts.dispatch import insert, jsonb, send
from analytics.monitor.alerts.model import Alert
from analytics.sql import load_sql

log = logging.getLogger("analytics.monitor.alerts")


@dataclass
class Outcome:
    fired: list[str] = field(default_factory=list)
    reminded: list[str] = field(default_factory=list)
    suppressed: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        return {k: sorted(v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Origin:
    """The run that raised or cleared an alert: on-call opens its log from the alert."""

    dag_id: str | None = None
    task_id: str | None = None
    run_id: str | None = None
    log_url: str | None = None

    def stamp(self, alert: Alert) -> Alert:
        return replace(
            alert,
            dag_id=alert.dag_id or self.dag_id,
            task_id=self.task_id,
            run_id=self.run_id,
            log_url=self.log_url,
        )


def resolve(conn, row: tuple, message: str, settings: Settings, now: datetime, origin: Origin = Origin()) -> None:
    """Announce that the open alert `row` (alerts/select_open_alerts columns) cleared, and mark it resolved."""
    resolved = origin.stamp(
        Alert(
            kind=row[1],
            alert_key=row[2],
            title=f"Resolved: {row[4]}",
            message=f"{message} (first alerted {row[7]:%Y-%m-%d %H:%M} UTC).",
            severity="info",
            state="resolved",
            dag_id=row[10],
        )
    )
    channels = send(resolved, settings)
    conn.execute(load_sql("alerts/update_alert_resolved"), {"id": row[0], "at": now, "channels": jsonb(channels)})


def reconcile(
    conn,
    findings: list[Alert],
    checked_kinds: set[str],
    settings: Settings,
    now: datetime,
    origin: Origin = Origin(),
) -> Outcome:
    """Compare what is wrong now with the open monitor alerts, in one transaction.

    A new condition is sent and recorded; an open one is re-sent only after the cooldown; an open
    alert whose check ran (kind in `checked_kinds`) and found nothing is resolved and announced.
    Checks that could not run leave their alerts as they are: blind is not healthy. Every message
    carries `origin`: the monitor run (and its log) that saw it.
    """
    out = Outcome()
    cooldown = timedelta(minutes=settings.alert_cooldown_minutes)
    current = {a.alert_key: origin.stamp(a) for a in findings}
    with conn.transaction():
        open_rows = conn.execute(load_sql("alerts/select_open_alerts"), {"kind_prefix": "monitor.%"}).fetchall()
        open_by_key = {r[2]: r for r in open_rows}
        for key, alert in current.items():
            row = open_by_key.get(key)
            if row is None:
                insert(conn, alert, send(alert, settings), now)
                out.fired.append(key)
            elif now - row[8] >= cooldown:
                reminder = replace(alert, title=f"{alert.title} (still firing since {row[7]:%Y-%m-%d %H:%M} UTC)")
                channels = send(reminder, settings)
                # Title and message from the same reminder: the row never says one thing in each.
                conn.execute(
                    load_sql("alerts/update_alert_sent"),
                    {
                        "id": row[0],
                        "at": now,
                        "title": reminder.title,
                        "message": reminder.as_text(),
                        "details": jsonb(alert.details | {"firstCheck": alert.first_check, "runbook": alert.runbook}),
                        "channels": jsonb(channels),
                        "run_id": reminder.run_id,
                        "log_url": reminder.log_url,
                    },
                )
                out.reminded.append(key)
            else:
                out.suppressed.append(key)
        for key, row in open_by_key.items():
            if key in current or row[1] not in checked_kinds:
                continue
            resolve(conn, row, f"The condition cleared at {now:%Y-%m-%d %H:%M:%S} UTC", settings, now, origin)
            out.resolved.append(key)
    log.info("monitor alerts: %s", out.as_dict())
    return out


def resolve_task_failures(
    dsn: str, settings: Settings, origin: Origin, map_index: int, run_after: str | None, now: datetime
) -> list[str]:
    """The task in `origin` succeeded: resolve (and announce) its open failure alerts; returns their keys.

    Only failures of this run (cleared, then succeeded) or of runs due no later than it (`run_after`): a backfill
    of an older interval succeeding says nothing about a newer one that failed."""
    with connect(dsn) as conn, conn.transaction():
        rows = conn.execute(
            load_sql("alerts/select_open_task_failures"),
            {
                "dag_id": origin.dag_id,
                "task_id": origin.task_id,
                "map_index": map_index,
                "run_id": origin.run_id,
                "run_after": run_after,
            },
        ).fetchall()
        for row in rows:
            message = (
                f"{origin.dag_id}.{origin.task_id} succeeded in run {origin.run_id} "
                f"at {now:%Y-%m-%d %H:%M:%S} UTC; the failure of run {row[6].get('runId')} is over"
            )
            resolve(conn, row, message, settings, now, origin)
    if rows:
        log.info("task %s.%s succeeded: resolved %s", origin.dag_id, origin.task_id, [r[2] for r in rows])
    return [r[2] for r in rows]
