"""Monitor alerts with memory: page once per condition, remind after the cooldown, say when it cleared."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from analytics.config import Settings
from analytics.monitor.alerts.dispatch import insert, jsonb, open_alerts_db, send
from analytics.monitor.alerts.model import Alert, linked
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
    current = {a.alert_key: linked(origin.stamp(a), settings.runbook_url) for a in findings}
    with conn.transaction():
        open_rows = conn.execute(load_sql("alerts/select_open_alerts"), {"kind_prefix": "monitor.%"}).fetchall()
        open_by_key = {r[2]: r for r in open_rows}
        for key, alert in current.items():
            row = open_by_key.get(key)
            if row is None:
                insert(conn, alert, send(alert, settings), now, settings)
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


RECENT_RUN_IDS = 50  # the failed runs a failure row remembers: the DAG-level notifier asks "did a task say why?"


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None


def _later(a: str | None, b: str | None) -> str | None:
    """The later of two ISO timestamps (either may be missing)."""
    da, db = _when(a), _when(b)
    if da is None or db is None:
        return a if db is None else b
    return a if da >= db else b


def page_failure(alert: Alert, settings: Settings, dsn: str | Exception, now: datetime, subject: str) -> dict[str, str]:
    """A failure (of a task, or of a DAG run no task explained): page once per `alert.alert_key` while it stays open.

    The first failure is sent and recorded. A later one, while the row is open, only updates it (latest run, log
    link, error; `failureCount`, `runAfter` the latest due, `recentRunIds`) until ALERT_COOLDOWN_MINUTES have passed
    since the last send; then one reminder goes out: "<subject> still failing since <first>: N failures", with the
    latest error and log. The row is written (and committed) before the channels are tried, so a notifier asking
    "was this run reported?" sees it at once. PostgreSQL out of reach (or `dsn` the error that kept us from finding
    it): the alert goes to the channels as it is. Returns channel → outcome, and "table"."""
    alert = linked(alert, settings.runbook_url)
    if isinstance(dsn, Exception):
        return send(alert, settings) | {"table": f"failed: {type(dsn).__name__}: {dsn}"}
    cooldown = timedelta(minutes=settings.alert_cooldown_minutes)
    try:
        with open_alerts_db(dsn) as conn:
            with conn.transaction():
                # Two failures of one task at once (runs in parallel, a callback from the processor) share one row.
                conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (alert.alert_key,))
                row = conn.execute(
                    load_sql("alerts/select_open_alert_by_key"), {"alert_key": alert.alert_key}
                ).fetchone()
                if row is None:
                    to_send = replace(
                        alert,
                        details=alert.details
                        | {
                            "failureCount": 1,
                            "firstFailedAt": now,
                            "firstRunId": alert.run_id,
                            "recentRunIds": [alert.run_id],
                        },
                    )
                    row_id = insert(conn, to_send, {}, now, settings)
                    outcome = "fired"
                else:
                    row_id, before = row[0], row[6] or {}
                    count = int(before.get("failureCount") or 1) + 1
                    first = _when(before.get("firstFailedAt")) or row[7]
                    recent = [r for r in before.get("recentRunIds") or [] if r != alert.run_id]
                    details = alert.details | {
                        "failureCount": count,
                        "firstFailedAt": first,
                        "firstRunId": before.get("firstRunId"),
                        "recentRunIds": [*recent, alert.run_id][-RECENT_RUN_IDS:],
                        "runAfter": _later(before.get("runAfter"), alert.details.get("runAfter")),
                        "firstCheck": alert.first_check,
                        "runbook": alert.runbook,
                    }
                    if now - row[8] >= cooldown:
                        to_send = replace(
                            alert,
                            title=f"{subject} still failing since {first:%Y-%m-%d %H:%M} UTC: {count} failures",
                            details=details,
                        )
                        conn.execute(
                            load_sql("alerts/update_alert_sent"),
                            {
                                "id": row_id,
                                "at": now,
                                "title": to_send.title,
                                "message": to_send.as_text(),
                                "details": jsonb(details),
                                "channels": jsonb({}),
                                "run_id": to_send.run_id,
                                "log_url": to_send.log_url,
                            },
                        )
                        outcome = "reminded"
                    else:
                        conn.execute(
                            load_sql("alerts/update_alert_failed_again"),
                            {
                                "id": row_id,
                                "message": alert.as_text(),
                                "details": jsonb(details),
                                "run_id": alert.run_id,
                                "log_url": alert.log_url,
                            },
                        )
                        outcome = "suppressed"
    except Exception as exc:  # unknown whether it is open: page rather than stay silent
        log.exception("could not read or record %s in analytics.alerts; sending it as it is", alert.alert_key)
        return send(alert, settings) | {"table": f"failed: {type(exc).__name__}: {exc}"}
    if outcome == "suppressed":
        log.warning(
            "%s failed again (%s failures); paged at %s, next reminder after the cooldown",
            subject,
            count,
            row[8],
        )
        return {"table": "suppressed"}
    channels = send(to_send, settings)
    try:
        with open_alerts_db(dsn, autocommit=True) as conn:
            conn.execute(load_sql("alerts/update_alert_channels"), {"id": row_id, "channels": jsonb(channels)})
    except Exception:
        log.exception("could not record the channels' answers for %s", alert.alert_key)
    return channels | {"table": outcome}


def _resolve_rows(dsn: str, sql: str, params: dict, settings: Settings, origin: Origin, now: datetime, what: str):
    with open_alerts_db(dsn) as conn, conn.transaction():
        rows = conn.execute(load_sql(sql), params).fetchall()
        for row in rows:
            d = row[6] or {}
            count = int(d.get("failureCount") or 1)
            first = _when(d.get("firstFailedAt")) or row[7]
            message = (
                f"{what} succeeded in run {origin.run_id} at {now:%Y-%m-%d %H:%M:%S} UTC; the failure of run "
                f"{d.get('runId') or d.get('dagRunId')} is over ({count} failure{'s' if count != 1 else ''} "
                f"since {first:%Y-%m-%d %H:%M} UTC)"
            )
            resolve(conn, row, message, settings, now, origin)
    return rows


def resolve_task_failures(
    dsn: str, settings: Settings, origin: Origin, map_index: int, run_after: str | None, now: datetime
) -> list[str]:
    """The task in `origin` succeeded: resolve (and announce, once) its open failure alert; returns the keys.

    Only failures of this run (cleared, then succeeded) or of runs due no later than it (`run_after`): a backfill
    of an older interval succeeding says nothing about a newer one that failed."""
    rows = _resolve_rows(
        dsn,
        "alerts/select_open_task_failures",
        {
            "dag_id": origin.dag_id,
            "task_id": origin.task_id,
            "map_index": map_index,
            "run_id": origin.run_id,
            "run_after": run_after,
        },
        settings,
        origin,
        now,
        f"{origin.dag_id}.{origin.task_id}",
    )
    if rows:
        log.info("task %s.%s succeeded: resolved %s", origin.dag_id, origin.task_id, [r[2] for r in rows])
    return [r[2] for r in rows]


def resolve_dag_failure(
    dsn: str, settings: Settings, origin: Origin, run_after: str | None, now: datetime
) -> list[str]:
    """A run of `origin.dag_id` succeeded: resolve its open "run failed, no task said why" alert (same rule)."""
    rows = _resolve_rows(
        dsn,
        "alerts/select_open_dag_failures",
        {"alert_key": f"dag_failed:{origin.dag_id}", "run_id": origin.run_id, "run_after": run_after},
        settings,
        origin,
        now,
        f"DAG {origin.dag_id}",
    )
    if rows:
        log.info("DAG %s succeeded: resolved %s", origin.dag_id, [r[2] for r in rows])
    return [r[2] for r in rows]


def run_failure_reported(dsn: str, dag_id: str, run_id: str) -> bool:
    """Did a task of this run record its failure in analytics.alerts?"""
    with open_alerts_db(dsn, autocommit=True) as conn:
        return bool(
            conn.execute(
                load_sql("alerts/select_run_failure_reported"), {"dag_id": dag_id, "run_id": run_id}
            ).fetchone()[0]
        )
