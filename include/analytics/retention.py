"""Retention of the pipeline's bookkeeping and of Airflow's own metadata (the events_maintenance DAG).

Each table has its own setting in days (0 = keep forever); the cutoff is measured back from the run's data
interval end, so a re-run of one interval deletes the same rows.
"""

from __future__ import annotations

import logging
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
}


def expire_bookkeeping(conn: psycopg.Connection, until: datetime, settings: Settings) -> dict[str, int]:
    """Delete bookkeeping rows older than their retention before `until`; rows deleted per table."""
    deleted: dict[str, int] = {}
    for table, (sql, setting) in TABLES.items():
        days = getattr(settings, setting)
        if days > 0:
            deleted[table] = conn.execute(load_sql(sql), {"before": until - timedelta(days=days)}).rowcount
    return deleted


def clean_airflow_metadata(until: datetime, days: int, timeout_s: float = 1800) -> str | None:
    """`airflow db clean` of every metadata table before `until - days` (no archive tables); returns the
    cutoff used, None when retention is 0. Raises CalledProcessError when the command fails."""
    if days <= 0:
        return None
    before = (until - timedelta(days=days)).isoformat()
    cmd = [sys.executable, "-m", "airflow", "db", "clean", "--clean-before-timestamp", before, "--yes"]
    cmd += ["--skip-archive", "--error-on-cleanup-failure", "--batch-size", "10000"]  # short locks
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
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

    return clean_airflow_metadata(until, get_settings().airflow_db_retention_days)
