"""
### events_dedup_nightly — mark repeated events in `analytics.events`

Finds events with the same **event type, actor, session, entity, source and props** (props compared
as jsonb: key order does not matter; the collector's fingerprint fields) whose `occurred_at` lies
within **1 s** after an earlier *kept* event, and marks each in `props_json._duplicate` as
`{"of": <kept event id>, "rule": ..., "foundAt": ...}`. Nothing is deleted; analysts query the view
`analytics.events_deduplicated`. Duplicates never anchor others: a, b = a + 0.8 s, c = b + 0.8 s
marks only b (c is 1.6 s after the kept a). Events with neither actor nor session are never marked.
A marked event's session stops counting it (`analytics.sessions.event_count`, as the view counts): the run
holds the enrichment lock while it marks and debits, so `events_enrich` waits for it a moment.

**Window:** events *received* in the `hours` (default 24) before the window's end:

- a **scheduled** run (daily at 02:00 UTC) or a **backfill** run: the end of its data interval;
- a **manual** run (UI, CLI, API): the moment it was triggered — "the last N hours, now" (the old
  `runImmediateDeduplication(24)`): `airflow dags trigger events_dedup_nightly -c '{"hours": 6}'`;
- any run given `end` (ISO 8601 with a zone, e.g. `2026-03-01T09:30:00Z`): that moment.

Events received up to 10 min before the window are read as context (an earlier kept event), never
re-marked. Marks are never changed, so a re-run (or a retry: the trigger time is fixed per run)
marks nothing new. Windows may overlap (a manual run, an `end`): an event an earlier run kept as the
anchor of a duplicate stays kept, so no run hides a duplicate's anchor (a late event just before it
then stays kept too: an over-count by one, never an event hidden without a kept one within 1 s). The run first waits until the loader's watermark passes the window's end.

The task log says which window was covered and why; `analytics.job_runs` (job = `dedup`) keeps it
(`interval_start`, `interval_end`, `stats.window_rule`) with the counts (scanned, marked, rate),
which `events_monitor` and the dashboard's nightly section show.

**If it fails:** read the task log; once fixed, clear the run (same window) or trigger a manual run
with `hours` (and `end` to cover a past window).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task

from analytics.dag_defaults import dag_callbacks, default_args


@dag(
    dag_id="events_dedup_nightly",
    schedule=CronDataIntervalTimetable("0 2 * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["analytics", "dedup"],
    doc_md=__doc__,
    default_args=default_args(retries=2, retry_delay=timedelta(minutes=5)),
    **dag_callbacks(),
    params={
        "hours": Param(
            24,
            type="integer",
            minimum=1,
            maximum=24 * 31,
            description="Deduplicate events received in the N hours before the window's end: the trigger time "
            "for a manual run, the data interval's end for a scheduled or backfill run.",
        ),
        "end": Param(
            None,
            type=["null", "string"],
            format="date-time",
            description="Optional end of the window (ISO 8601 with a zone, e.g. 2026-03-01T09:30:00Z) instead of "
            "the trigger time or the data interval's end.",
        ),
        "wait_for_loader": Param(
            True,
            type="boolean",
            description="Hold the run until the loader's watermark passes the window's end.",
        ),
    },
)
def events_dedup_nightly():
    @task.sensor(task_id="wait_for_loader", poke_interval=60, timeout=2 * 3600, mode="reschedule")
    def wait_for_loader() -> bool:
        from analytics.dedup.job import context_window
        from analytics.load.watermark import loader_ready

        ctx = get_current_context()
        return loader_ready(ctx["params"], context_window(ctx).end)

    @task
    def deduplicate() -> dict:
        from analytics.dedup.job import context_window, run_nightly

        ctx = get_current_context()
        return run_nightly(context_window(ctx), run_id=ctx["run_id"])

    wait_for_loader() >> deduplicate()


events_dedup_nightly()
