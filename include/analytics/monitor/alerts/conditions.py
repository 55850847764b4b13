"""Monitor alerts with memory: page once per condition, remind after the cooldown, say when it cleared."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from analytics.config import Settings
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


def reconcile(conn, findings: list[Alert], checked_kinds: set[str], settings: Settings, now: datetime) -> Outcome:
    """Compare what is wrong now with the open monitor alerts, in one transaction.

    A new condition is sent and recorded; an open one is re-sent only after the cooldown; an open
    alert whose check ran (kind in `checked_kinds`) and found nothing is resolved and announced.
    Checks that could not run leave their alerts as they are: blind is not healthy.
    """
    out = Outcome()
    cooldown = timedelta(minutes=settings.alert_cooldown_minutes)
    current = {a.alert_key: a for a in findings}
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
                conn.execute(
                    load_sql("alerts/update_alert_sent"),
                    {
                        "id": row[0],
                        "at": now,
                        "message": reminder.as_text(),
                        "details": jsonb(alert.details),
                        "channels": jsonb(channels),
                    },
                )
                out.reminded.append(key)
            else:
                out.suppressed.append(key)
        for key, row in open_by_key.items():
            if key in current or row[1] not in checked_kinds:
                continue
            resolved = Alert(
                kind=row[1],
                alert_key=key,
                title=f"Resolved: {row[4]}",
                message=f"The condition cleared at {now:%Y-%m-%d %H:%M:%S} UTC (first alerted {row[7]:%Y-%m-%d %H:%M} UTC).",
                severity="info",
                state="resolved",
            )
            channels = send(resolved, settings)
            conn.execute(
                load_sql("alerts/update_alert_resolved"), {"id": row[0], "at": now, "channels": jsonb(channels)}
            )
            out.resolved.append(key)
    log.info("monitor alerts: %s", out.as_dict())
    return out
