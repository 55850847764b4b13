"""default_args every DAG uses: retries with backoff, the failure alert on the last try, resolved on a success."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from analytics.monitor.alerts.notifier import FailureNotifier, SuccessNotifier


def default_args(retries: int = 2, retry_delay: timedelta = timedelta(seconds=30)) -> dict[str, Any]:
    return {
        "owner": "analytics",
        "retries": retries,
        "retry_delay": retry_delay,
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
        # Airflow calls this only when a try fails with no retries left; retries go to on_retry_callback.
        "on_failure_callback": [FailureNotifier()],
        # A success resolves the task's open failure alert (one indexed query per success).
        "on_success_callback": [SuccessNotifier()],
    }
