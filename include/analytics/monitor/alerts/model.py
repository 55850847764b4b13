"""An alert: what broke, where, the error, the log link and what to check first."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

RUNBOOK = "docs/RUNBOOK.md"  # alerts name sections as RUNBOOK#anchor; linked() points them at the deployment's copy


@dataclass(frozen=True)
class Alert:
    kind: str  # "task_failed" or "monitor.<check>"
    alert_key: str  # same condition, same key: what the cooldown and "resolved" logic match on
    title: str
    message: str
    severity: str = "error"
    state: str = "firing"  # "firing" | "resolved"
    first_check: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    dag_id: str | None = None
    task_id: str | None = None
    run_id: str | None = None
    log_url: str | None = None
    runbook: str | None = None

    def as_payload(self) -> dict[str, Any]:
        """The JSON body of the generic webhook."""
        return {k: v for k, v in asdict(self).items()} | {"text": self.as_text()}

    def as_text(self) -> str:
        lines = [f"[{self.state.upper()}] [{self.severity}] {self.title}", self.message]
        if self.run_id:
            lines.append(
                f"Run: {self.dag_id or '?'} {self.run_id}" + (f" (task {self.task_id})" if self.task_id else "")
            )
        if self.log_url:
            lines.append(f"Log: {self.log_url}")
        if self.first_check:
            lines.append(f"First check: {self.first_check}")
        if self.runbook:
            lines.append(f"Runbook: {self.runbook}")
        return "\n".join(lines)


def linked(alert: Alert, runbook_url: str) -> Alert:
    """The alert with its runbook link under `runbook_url` (settings.runbook_url, ANALYTICS_RUNBOOK_URL) instead of
    the repo path: `docs/RUNBOOK.md#task-failure` → `https://wiki.example/RUNBOOK.md#task-failure`."""
    if not alert.runbook or not alert.runbook.startswith(RUNBOOK) or runbook_url == RUNBOOK:
        return alert
    return replace(alert, runbook=runbook_url.rstrip("/") + alert.runbook[len(RUNBOOK) :])
