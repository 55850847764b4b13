"""
### events_maintenance — retention of the pipeline's bookkeeping and of Airflow's metadata

Nothing the pipeline writes grows without bound. Daily, each table loses the rows older than its
retention (0 days = keep forever), measured back from the run's data interval end, or for a run triggered
without a logical date from the moment it was triggered:

| what | setting (default) | kept regardless |
|---|---|---|
| `analytics.idempotency_keys` | `ANALYTICS_IDEMPOTENCY_KEYS_RETENTION_DAYS` (30) | — |
| `analytics.load_runs` | `ANALYTICS_LOAD_RUNS_RETENTION_DAYS` (30) | the newest run and the one with the highest watermark |
| `analytics.job_runs` | `ANALYTICS_JOB_RUNS_RETENTION_DAYS` (90) | each job's latest run |
| `analytics.count_checks`, `analytics.dropped_events` (the monitor's accepted-against-stored check) | `ANALYTICS_JOB_RUNS_RETENTION_DAYS` (90) | — |
| `analytics.alerts` (resolved) | `ANALYTICS_ALERTS_RETENTION_DAYS` (90) | firing alerts |
| Airflow's metadata (`airflow db clean --skip-archive`) | `ANALYTICS_AIRFLOW_DB_RETENTION_DAYS` (30) | each DAG's latest scheduled run |

An idempotency key past its retention no longer stops a retry: keep it longer than any client retries.
Events themselves are dropped by day partition in `events_load` (`ANALYTICS_RETENTION_DAYS`), and the
Redis streams are trimmed by the loader below what it copied.

`airflow_metadata` runs the `airflow db clean` CLI on the worker, which therefore needs the metadata
database's SQLAlchemy URL in `ANALYTICS_AIRFLOW_DB_URL`: Airflow 3 replaces `AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`
in a task's environment so that task code cannot reach its database (`make up` and docker-compose set both).

**If it fails:** nothing is lost, tables only grow until the next run. Read the task log: `airflow_metadata`
prints the command's output (a table whose cleanup failed is named there); re-run the task once fixed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, get_current_context, task

from analytics.dag_defaults import dag_callbacks, default_args, run_interval


@dag(
    dag_id="events_maintenance",
    schedule="30 3 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["analytics", "maintenance"],
    doc_md=__doc__,
    default_args=default_args(retries=2, retry_delay=timedelta(minutes=10)),
    **dag_callbacks(),
)
def events_maintenance():
    @task
    def bookkeeping() -> dict:
        from analytics.retention import run_retention

        return run_retention(run_interval(get_current_context(), None)[1])

    @task(execution_timeout=timedelta(hours=1))
    def airflow_metadata() -> str | None:
        from analytics.retention import run_airflow_clean

        return run_airflow_clean(run_interval(get_current_context(), None)[1])

    bookkeeping()
    airflow_metadata()


events_maintenance()
