"""
### events_dedup_nightly — mark repeated events in `analytics.events`

Finds events with the same **event type, actor, session, entity, source and props** (props compared
as jsonb: key order does not matter; the collector's fingerprint fields) whose `occurred_at` lies
within **1 s** after an earlier *kept* event, and marks each in `props_json._duplicate` as
`{"of": <kept event id>, "rule": ..., "foundAt": ...}`. Nothing is deleted; analysts query the view
`analytics.events_deduplicated`. Duplicates never anchor others: a, b = a + 0.8 s, c = b + 0.8 s
marks only b (c is 1.6 s after the kept a). Events with neither actor nor session are never marked.

**Interval:** events *received* in `[data_interval_end − hours, data_interval_end)`; the default
24 h is the nightly data interval. Events received up to 10 min before are read as context (an
earlier kept event), never re-marked. Marks are never changed, so a re-run marks nothing new.

Runs daily at 02:00 UTC after the loader's watermark passes the interval end. To deduplicate any
span now, trigger with `hours` (the old `runImmediateDeduplication(24)`):
`airflow dags trigger events_dedup_nightly -c '{"hours": 72}'`. Counts (scanned, marked, rate) go to
`analytics.job_runs` (job = `dedup`), which `events_monitor` reads.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task

from analytics.dag_defaults import default_args


@dag(
    dag_id="events_dedup_nightly",
    schedule=CronDataIntervalTimetable("0 2 * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["analytics", "dedup"],
    doc_md=__doc__,
    default_args=default_args(retries=2, retry_delay=timedelta(minutes=5)),
    params={
        "hours": Param(
            24,
            type="integer",
            minimum=1,
            maximum=24 * 31,
            description="Deduplicate events received in the last N hours before the data interval's end.",
        ),
        "wait_for_loader": Param(
            True,
            type="boolean",
            description="Hold the run until the loader's watermark passes the interval's end.",
        ),
    },
)
def events_dedup_nightly():
    @task.sensor(task_id="wait_for_loader", poke_interval=60, timeout=2 * 3600, mode="reschedule")
    def wait_for_loader() -> bool:
        from analytics.load.watermark import loader_caught_up

        ctx = get_current_context()
        return not ctx["params"]["wait_for_loader"] or loader_caught_up(ctx["data_interval_end"])

    @task
    def deduplicate() -> dict:
        from analytics.dedup.job import run_nightly

        ctx = get_current_context()
        return run_nightly(ctx["data_interval_end"], ctx["params"]["hours"], run_id=ctx["run_id"])

    wait_for_loader() >> deduplicate()


events_dedup_nightly()
