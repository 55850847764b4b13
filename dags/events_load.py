"""
### events_load — Redis stream → `analytics.events`

Drains the stream `analytics:events` through the consumer group `analytics-loader` into
PostgreSQL with exactly-once effect: entries are COPied into a staging table, inserted with
`ON CONFLICT DO NOTHING` on the event id, committed, and only then acknowledged. Entries left
pending by a crashed run are reclaimed first.

Runs every minute (one run at a time) and on the collector's `POST /v1/admin/flush`.
A run drains until the stream is empty or its time budget is spent.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, get_current_context, task

from analytics.dag_defaults import default_args


@dag(
    dag_id="events_load",
    schedule=timedelta(minutes=1),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["analytics", "load"],
    doc_md=__doc__,
    default_args=default_args(retries=3, retry_delay=timedelta(seconds=20)),
    params={
        "batch_size": Param(
            5000,
            type="integer",
            minimum=1,
            maximum=100_000,
            description="Stream entries read and written per transaction.",
        ),
        "time_budget_seconds": Param(
            45, type="integer", minimum=0, maximum=3600, description="Stop reading new entries after this many seconds."
        ),
    },
)
def events_load():
    @task
    def load() -> dict:
        from analytics.tasks import load_events

        ctx = get_current_context()
        params = ctx["params"]
        return load_events(
            run_id=ctx["run_id"], batch_size=params["batch_size"], time_budget_seconds=params["time_budget_seconds"]
        )

    load()


events_load()
