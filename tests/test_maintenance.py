"""events_maintenance: retention of bookkeeping rows and of Airflow's metadata, rows on both sides of each cutoff."""

from __future__ import annotations

import os
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from psycopg.types.json import Jsonb

NOW = datetime.now(UTC)
KEPT = {"keys_new", "loads_new", "jobs_new", "jobs_only", "alerts_new", "firing", "checks_new", "dropped_new"}


def _ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def _seed(db, tag: str) -> dict[str, list]:
    """Rows just past and just within each default retention; returns their ids by (table, expectation)."""
    ids: dict[str, list] = {}
    for name, days in (("keys_old", 31), ("keys_new", 29)):
        key = f"{tag}-{name}"
        db.execute(
            "INSERT INTO analytics.idempotency_keys (source, idempotency_key, event_id, created_at)"
            " VALUES ('web', %s, %s, %s)",
            (key, uuid.uuid4(), _ago(days)),
        )
        ids[name] = [key]
    for name, days in (("loads_old", 31), ("loads_new", 29)):
        (rid,) = db.execute(
            "INSERT INTO analytics.load_runs (run_id, started_at, finished_at) VALUES (%s, %s, %s) RETURNING id",
            (tag, _ago(days), _ago(days)),
        ).fetchone()
        ids[name] = [rid]
    for name, job, days in (("jobs_old", tag, 91), ("jobs_new", tag, 89), ("jobs_only", f"{tag}-only", 91)):
        (rid,) = db.execute(
            "INSERT INTO analytics.job_runs (job, run_id, started_at, finished_at) VALUES (%s, %s, %s, %s)"
            " RETURNING id",
            (job, tag, _ago(days), _ago(days)),
        ).fetchone()
        ids[name] = [rid]
    for name, days in (("checks_old", 91), ("checks_new", 89)):
        hour = _ago(days).replace(minute=0, second=0, microsecond=0)
        db.execute(
            "INSERT INTO analytics.count_checks (hour, accepted, stored, dropped, set_aside, missing, checked_at)"
            " VALUES (%s, 0, 0, 0, 0, 0, %s)",
            (hour, NOW),
        )
        ids[name] = [hour]
    for name, days in (("dropped_old", 91), ("dropped_new", 89)):
        event_id = uuid.uuid4()
        db.execute(
            "INSERT INTO analytics.dropped_events (id, received_at, reason, source, idempotency_key)"
            " VALUES (%s, %s, 'idempotency_key', 'web', %s)",
            (event_id, _ago(days), tag),
        )
        ids[name] = [event_id]
    for name, state, days in (("alerts_old", "resolved", 91), ("alerts_new", "resolved", 89), ("firing", "firing", 91)):
        (rid,) = db.execute(
            "INSERT INTO analytics.alerts (kind, alert_key, state, title, message, details, created_at, resolved_at)"
            " VALUES ('test', %s, %s, 't', 'm', %s, %s, %s) RETURNING id",
            (f"{tag}-{name}", state, Jsonb({}), _ago(days + 1), _ago(days) if state == "resolved" else None),
        ).fetchone()
        ids[name] = [rid]
    return ids


def _present(db, ids: dict[str, list]) -> set[str]:
    queries = {
        "keys": "SELECT 1 FROM analytics.idempotency_keys WHERE source = 'web' AND idempotency_key = %s",
        "loads": "SELECT 1 FROM analytics.load_runs WHERE id = %s",
        "jobs": "SELECT 1 FROM analytics.job_runs WHERE id = %s",
        "alerts": "SELECT 1 FROM analytics.alerts WHERE id = %s",
        "checks": "SELECT 1 FROM analytics.count_checks WHERE hour = %s",
        "dropped": "SELECT 1 FROM analytics.dropped_events WHERE id = %s",
        "firing": "SELECT 1 FROM analytics.alerts WHERE id = %s",
    }
    return {name for name, (value,) in ids.items() if db.execute(queries[name.split("_")[0]], (value,)).fetchone()}


def _cleanup(db, tag: str) -> None:
    db.execute("DELETE FROM analytics.idempotency_keys WHERE idempotency_key LIKE %s", (f"{tag}%",))
    db.execute("DELETE FROM analytics.load_runs WHERE run_id = %s", (tag,))
    db.execute("DELETE FROM analytics.job_runs WHERE run_id = %s", (tag,))
    db.execute("DELETE FROM analytics.alerts WHERE alert_key LIKE %s", (f"{tag}%",))
    db.execute("DELETE FROM analytics.dropped_events WHERE idempotency_key = %s", (tag,))
    db.execute("DELETE FROM analytics.count_checks WHERE hour < %s", (_ago(80),))  # only _seed writes such hours


def _airflow_db() -> sqlite3.Connection:
    return sqlite3.connect(Path(os.environ["AIRFLOW_HOME"]) / "airflow.db")


def test_maintenance_dag_deletes_only_rows_past_retention(dagbag, settings, db):
    tag = f"ret-{uuid.uuid4().hex[:8]}"
    ids = _seed(db, tag)
    stamp = "%Y-%m-%d %H:%M:%S.%f"
    with _airflow_db() as adb:
        for name, days in (("old", 31), ("new", 29)):
            adb.execute(
                "INSERT INTO log (dttm, event, extra) VALUES (?, ?, ?)", (_ago(days).strftime(stamp), tag, name)
            )
    try:
        run = dagbag.get_dag("events_maintenance").test()
        assert run.state == "success"
        assert _present(db, ids) == KEPT
        with _airflow_db() as adb:
            left = [extra for (extra,) in adb.execute("SELECT extra FROM log WHERE event = ?", (tag,))]
        assert left == ["new"]
    finally:
        _cleanup(db, tag)
        with _airflow_db() as adb:
            adb.execute("DELETE FROM log WHERE event = ?", (tag,))


def test_a_run_triggered_without_a_logical_date_measures_from_its_own_moment(dagbag, settings, db, monkeypatch):
    """`airflow dags trigger events_maintenance` (no `-l`) makes a run with no data interval in Airflow 3: it was a
    KeyError on data_interval_end; the cutoffs are now measured back from the moment the run was triggered."""
    tag = f"ret-{uuid.uuid4().hex[:8]}"
    ids = _seed(db, tag)
    try:
        dag = dagbag.get_dag("events_maintenance")
        for task in dag.tasks:  # fail at once, not after the retry delays
            monkeypatch.setattr(task, "retries", 0)
        run = dag.test(logical_date=None)
        assert run.state == "success" and run.logical_date is None
        assert _present(db, ids) == KEPT
    finally:
        _cleanup(db, tag)


def test_zero_days_keeps_everything(settings, db):
    from analytics.retention import clean_airflow_metadata, expire_bookkeeping

    tag = f"ret-{uuid.uuid4().hex[:8]}"
    ids = _seed(db, tag)
    try:
        keep = settings.with_overrides(
            idempotency_keys_retention_days=0, load_runs_retention_days=0, job_runs_retention_days=0,
            alerts_retention_days=0,
        )  # fmt: skip
        assert expire_bookkeeping(db, NOW, keep) == {}
        assert _present(db, ids) == set(ids)
        assert clean_airflow_metadata(NOW, 0) is None
    finally:
        _cleanup(db, tag)


def test_the_metadata_clean_runs_in_a_task_that_airflow_3_keeps_from_its_database(airflow_db):
    """A real task process has Airflow's metadata database hidden from it (the supervisor's `block_orm_access` puts a
    placeholder in AIRFLOW__DATABASE__SQL_ALCHEMY_CONN, which the `airflow db clean` it starts inherits): the task
    runs the clean on ANALYTICS_AIRFLOW_DB_URL, and without it fails saying so. `dag.test()` runs tasks in process,
    with the database in reach, so the DAG test above cannot see this; here the task's function runs after that very
    function, in a process of its own."""
    import subprocess
    import sys

    tag = f"ret-{uuid.uuid4().hex[:8]}"
    stamp = "%Y-%m-%d %H:%M:%S.%f"
    with _airflow_db() as adb:
        for name, days in (("old", 31), ("new", 29)):
            adb.execute(
                "INSERT INTO log (dttm, event, extra) VALUES (?, ?, ?)", (_ago(days).strftime(stamp), tag, name)
            )
    task = (
        "import os, sys; from datetime import datetime; import airflow.settings\n"
        "from airflow.sdk.execution_time.supervisor import block_orm_access\n"
        "block_orm_access()\n"
        "assert os.environ['AIRFLOW__DATABASE__SQL_ALCHEMY_CONN'].startswith('airflow-db-not-allowed')\n"
        "from analytics.retention import run_airflow_clean\n"
        "print(run_airflow_clean(datetime.fromisoformat(sys.argv[1])))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "ANALYTICS_AIRFLOW_DB_URL"}
    try:
        hidden = subprocess.run([sys.executable, "-c", task, NOW.isoformat()], env=env, capture_output=True, text=True)
        assert hidden.returncode != 0 and "ANALYTICS_AIRFLOW_DB_URL" in hidden.stderr
        with _airflow_db() as adb:
            assert adb.execute("SELECT count(*) FROM log WHERE event = ?", (tag,)).fetchone()[0] == 2  # untouched

        url = f"sqlite:///{Path(airflow_db) / 'airflow.db'}"
        given = subprocess.run(
            [sys.executable, "-c", task, NOW.isoformat()],
            env={**env, "ANALYTICS_AIRFLOW_DB_URL": url},
            capture_output=True,
            text=True,
        )
        assert given.returncode == 0, given.stderr[-2000:]
        assert url not in given.stdout + given.stderr  # the URL (a password, in production) is never printed
        with _airflow_db() as adb:
            left = [extra for (extra,) in adb.execute("SELECT extra FROM log WHERE event = ?", (tag,))]
        assert left == ["new"]
    finally:
        with _airflow_db() as adb:
            adb.execute("DELETE FROM log WHERE event = ?", (tag,))
