"""events_enrich through Airflow: explicit data intervals, backfill of past hours, the loader watermark."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from tests.enrich.test_enrich import MAC_CHROME, insert_event


def set_watermark(db, watermark: datetime) -> None:
    db.execute(
        "INSERT INTO analytics.load_runs (run_id, started_at, finished_at, watermark) VALUES (%s, now(), now(), %s)",
        (f"test-{uuid.uuid4().hex[:6]}", watermark),
    )


def test_schedule_is_hourly_data_intervals_without_catchup(dagbag):
    from airflow.sdk import CronDataIntervalTimetable

    dag = dagbag.get_dag("events_enrich")
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.timetable.expression == "0 * * * *"
    assert dag.catchup is False
    assert "received_at" in dag.doc_md
    assert [t.task_id for t in dag.topological_sort()] == ["wait_for_loader", "enrich"]


def test_backfill_of_three_past_hours_fills_exactly_those_hours(dagbag, settings, db):
    # After the DAG's start_date (no task instances before it), long before now.
    base = datetime(2026, 2, 1, tzinfo=UTC) + timedelta(hours=uuid.uuid4().int % 5000)
    by_hour = {
        h: [
            insert_event(
                db, received_at=base + timedelta(hours=h, minutes=m), user_agent=MAC_CHROME, session_id=f"b{h}"
            )
            for m in (0, 30, 59)
        ]
        for h in range(5)
    }
    set_watermark(db, base + timedelta(hours=5))
    dag = dagbag.get_dag("events_enrich")

    # A manual run's data interval is the hour that ends at its logical date: hours 1, 2, 3.
    for h in (1, 2, 3):
        run = dag.test(logical_date=base + timedelta(hours=h + 1))
        assert run.state == "success"
        assert (run.data_interval_start, run.data_interval_end) == (
            base + timedelta(hours=h),
            base + timedelta(hours=h + 1),
        )

    enriched = {
        str(r[0])
        for r in db.execute(
            "SELECT event_id FROM analytics.attribution WHERE received_at >= %s AND received_at < %s",
            (base - timedelta(hours=1), base + timedelta(hours=6)),
        )
    }
    assert enriched == set(by_hour[1] + by_hour[2] + by_hour[3])
    runs = db.execute(
        "SELECT interval_start, interval_end, stats->>'events' FROM analytics.job_runs "
        "WHERE job = 'enrich' AND interval_start >= %s AND interval_start < %s ORDER BY interval_start",
        (base, base + timedelta(hours=5)),
    ).fetchall()
    assert runs == [(base + timedelta(hours=h), base + timedelta(hours=h + 1), "3") for h in (1, 2, 3)]
    row = db.execute(
        "SELECT device_type, os_name FROM analytics.attribution WHERE event_id = %s", (by_hour[2][0],)
    ).fetchone()
    assert row == ("desktop", "macOS")


def test_run_fails_when_the_loader_watermark_never_reaches_the_interval_end(dagbag, settings, db):
    # An interval far ahead: no watermark, from this or any other test, is past its end.
    end = datetime(2099, 1, 1, 1, tzinfo=UTC)
    event = insert_event(db, received_at=end - timedelta(minutes=30))
    dag = dagbag.get_dag("events_enrich")
    sensor = dag.get_task("wait_for_loader")
    saved = sensor.timeout, sensor.poke_interval
    sensor.timeout, sensor.poke_interval = 1, 0.2
    try:
        run = dag.test(logical_date=end)
    finally:
        sensor.timeout, sensor.poke_interval = saved
    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["wait_for_loader"] == "failed"
    assert states["enrich"] in ("upstream_failed", None)
    assert db.execute("SELECT count(*) FROM analytics.attribution WHERE event_id = %s", (event,)).fetchone()[0] == 0


def test_a_run_triggered_without_a_logical_date_enriches_the_last_whole_hour(dagbag, settings, db, monkeypatch):
    """`airflow dags trigger events_enrich` (no `-l`) and the UI's form with the date left empty make a run with no
    data interval in Airflow 3 (it was a KeyError); it enriches the last whole UTC hour before it."""
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    # One event in the hour just ended, one in the current hour (which a run starting after the next hour would own).
    events = {
        at: insert_event(db, received_at=at, user_agent=MAC_CHROME) for at in (hour - timedelta(minutes=20), hour)
    }
    dag = dagbag.get_dag("events_enrich")
    for task in dag.tasks:  # fail at once, not after the retry delays
        monkeypatch.setattr(task, "retries", 0)
    run = dag.test(logical_date=None, run_conf={"wait_for_loader": False})
    assert run.state == "success" and run.logical_date is None and run.data_interval_end is None
    end = run.run_after.replace(minute=0, second=0, microsecond=0)
    ran = db.execute(
        "SELECT interval_start, interval_end FROM analytics.job_runs WHERE job = 'enrich' AND run_id = %s",
        (run.run_id,),
    ).fetchone()
    assert ran == (end - timedelta(hours=1), end)
    enriched = {
        at
        for at, event_id in events.items()
        if db.execute("SELECT 1 FROM analytics.attribution WHERE event_id = %s", (event_id,)).fetchone()
    }
    assert enriched == {at for at in events if end - timedelta(hours=1) <= at < end}
