"""Retention of the pipeline's bookkeeping and of Airflow's own metadata (the events_maintenance DAG).

Each table has its own setting in days (0 = keep forever); the cutoff is measured back from the run's data
interval end, so a re-run of one interval deletes the same rows.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import datetime, timedelta

import psycopg

from analytics.config import Settings
from analytics.sql import load_sql

log = logging.getLogger(__name__)

# table → (its SQL, the setting that holds its retention in days)
TABLES = {
    "idempotency_keys": ("retention/delete_idempotency_keys", "idempotency_keys_retention_days"),
    "load_runs": ("retention/delete_load_runs", "load_runs_retention_days"),
    "job_runs": ("retention/delete_job_runs", "job_runs_retention_days"),
    "alerts": ("retention/delete_alerts", "alerts_retention_days"),
    "count_checks": ("retention/delete_count_checks", "job_runs_retention_days"),
    "dropped_events": ("retention/delete_dropped_events", "job_runs_retention_days"),
}


def expire_bookkeeping(conn: psycopg.Connection, until: datetime, settings: Settings) -> dict[str, int]:
    """Delete bookkeeping rows older than their retention before `until`; rows deleted per table."""
    deleted: dict[str, int] = {}
    for table, (sql, setting) in TABLES.items():
        days = getattr(settings, setting)
        if days > 0:
            deleted[table] = conn.execute(load_sql(sql), {"before": until - timedelta(days=days)}).rowcount
    return deleted


# What Airflow 3's task supervisor puts in a task's AIRFLOW__DATABASE__SQL_ALCHEMY_CONN so that task code cannot reach
# the metadata database (airflow.sdk.execution_time.supervisor.block_orm_access): a CLI started from the task inherits it.
_BLOCKED = "airflow-db-not-allowed"


def metadata_db_url(configured: str | None) -> str:
    """The metadata database `airflow db clean` must use: ANALYTICS_AIRFLOW_DB_URL, else Airflow's own setting when
    this process still sees it (a CLI, `dag.test()`); raises RuntimeError naming the setting in a task that does not."""
    if configured:
        return configured
    from airflow.configuration import conf

    own = conf.get("database", "sql_alchemy_conn", fallback="") or ""
    if own and not own.startswith(_BLOCKED):
        return own
    raise RuntimeError(
        "Airflow 3 does not let a task reach its metadata database, so `airflow db clean` needs it from "
        "ANALYTICS_AIRFLOW_DB_URL (the same SQLAlchemy URL as AIRFLOW__DATABASE__SQL_ALCHEMY_CONN) in the workers' "
        "environment; `make up` and docker-compose set it. Or set ANALYTICS_AIRFLOW_DB_RETENTION_DAYS=0 to skip it."
    )


def clean_airflow_metadata(
    until: datetime, days: int, db_url: str | None = None, timeout_s: float = 1800
) -> str | None:
    """`airflow db clean` of every metadata table before `until - days` (no archive tables), on `db_url` (else what
    `metadata_db_url` finds); returns the cutoff used, None when retention is 0. Raises CalledProcessError when the
    command fails. The URL goes to the command in its environment, never in its arguments or the log."""
    if days <= 0:
        return None
    env = {**os.environ, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_db_url(db_url)}
    before = (until - timedelta(days=days)).isoformat()
    cmd = [sys.executable, "-m", "airflow", "db", "clean", "--clean-before-timestamp", before, "--yes"]
    cmd += ["--skip-archive", "--error-on-cleanup-failure", "--batch-size", "10000"]  # short locks
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False, env=env)
    log.info("airflow db clean before %s: %s", before, done.stdout[-4000:])
    if done.returncode != 0:
        log.error("airflow db clean failed: %s", done.stderr[-4000:])
        done.check_returncode()
    return before


def run_retention(until: datetime) -> dict[str, int]:
    """The events_maintenance task: bookkeeping retention in the analytics database."""
    from analytics.config import get_settings
    from analytics.connections import postgres_dsn
    from analytics.db import connect

    with connect(postgres_dsn()) as conn:
        deleted = expire_bookkeeping(conn, until, get_settings())
        conn.commit()
    log.info("retention deleted %s", deleted)
    return deleted


def run_airflow_clean(until: datetime) -> str | None:
    """The events_maintenance task: Airflow's metadata retention."""
    from analytics.config import get_settings

    s = get_settings()
    return clean_airflow_metadata(until, s.airflow_db_retention_days, s.airflow_db_url)
