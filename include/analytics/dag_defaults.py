"""default_args every DAG uses: retries with backoff, the failure alert on the last try, resolved on a success;
the DAG-level callbacks every @dag passes (`**dag_callbacks()`): a failed run no task explained alerts, a
successful run resolves it; and the interval a run covers, triggered with a logical date or without."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from analytics.monitor.alerts.notifier import DagFailureNotifier, DagSuccessNotifier, FailureNotifier, SuccessNotifier


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


def dag_callbacks() -> dict[str, Any]:
    """`@dag(..., **dag_callbacks())`: Airflow runs these in the dag-processor when a run ends. A task killed by the OS
    (out of memory, SIGKILL) or one whose DAG file fails to import on the worker runs no task callback: the run's
    failure callback pages then, naming the last task and Airflow's reason."""
    return {"on_failure_callback": [DagFailureNotifier()], "on_success_callback": [DagSuccessNotifier()]}


def run_interval(ctx: Mapping[str, Any], period: timedelta | None) -> tuple[datetime, datetime]:
    """The run's data interval. A run triggered without a logical date (`airflow dags trigger` without `-l`, the UI's
    form with the date left empty) has none in Airflow 3: then the last whole `period` (aligned to the epoch, so whole
    UTC hours for an hour) that ended at or before the run, as Airflow infers a manual run's interval from a logical
    date; with `period` None, the run's moment itself."""
    start, end = ctx.get("data_interval_start"), ctx.get("data_interval_end")
    if start is not None and end is not None:
        return start, end
    at = ctx["dag_run"].run_after
    if period is None:
        return at, at
    step = period.total_seconds()
    end = datetime.fromtimestamp(at.timestamp() // step * step, UTC)
    logging.getLogger(__name__).info(
        "run %s has no logical date: it covers [%s, %s), the last whole %s before it",
        ctx.get("run_id"),
        (end - period).isoformat(),
        end.isoformat(),
        period,
    )
    return end - period, end
