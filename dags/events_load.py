"""
### events_load — Redis stream → `analytics.events`

Drains the stream `analytics:events` through the consumer group `analytics-loader` into PostgreSQL with
exactly-once effect: each entry carries its event as a ready COPY line, so a batch of new entries is COPied
straight into `analytics.events` (idempotency keys claimed once, forever); a batch that conflicts (a
replay) or holds a bad row goes through a staging table and `INSERT … ON CONFLICT DO NOTHING` on the event
id instead. Each batch is committed, and only then acknowledged. Entries left
pending by a crashed run are reclaimed first. An entry that cannot load goes to
`analytics.rejected_events` (stage `loader`) with the reason; the rest of its batch loads. The collector's
rejections (`analytics:rejected`) are copied there too. The stream is trimmed only below what every
consumer group has acknowledged.

Runs every minute, one run at a time, and on the collector's `POST /v1/admin/flush`. A run keeps reading
(blocking `XREADGROUP`) for `follow_seconds`, so events reach Postgres within seconds, and stops when its
time budget is spent; the next run starts right after.

With `ANALYTICS_STREAM_SHARDS` > 1 the collector spreads events over that many streams (`analytics:events:{n}`)
and `load` is mapped, one task per stream (the shards, plus the unsharded stream for data written before):
each has its own consumer, reclaiming and trimming, and N Celery workers drain N shards at once
(docs/SCALING.md).

Each run writes a row to `analytics.load_runs` (one per stream): entries read, inserted, already present, rejected,
reclaimed, lag and pending left, duration and the **watermark** — every event with `received_at` below it
is in `analytics.events` or `analytics.rejected_events` (derived from the oldest entry not yet
acknowledged, minus `ANALYTICS_WATERMARK_MARGIN_SECONDS`). Downstream DAGs wait for the
lowest of the streams' highest watermarks (`sql/load/select_watermark.sql`) to pass their interval end.

`partitions` keeps daily partitions created ahead (`ANALYTICS_PARTITION_DAYS_AHEAD`) and drops those past
`ANALYTICS_RETENTION_DAYS`; the load runs even if that fails (a day without a partition lands in the default one).

**If it fails:** Postgres down → retries with backoff; events wait in the stream and load when it is back.
Check `analytics.rejected_events` for entries set aside.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, get_current_context, task

from analytics.dag_defaults import dag_callbacks, default_args


@dag(
    dag_id="events_load",
    schedule=timedelta(minutes=1),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["analytics", "load"],
    doc_md=__doc__,
    default_args=default_args(retries=3, retry_delay=timedelta(seconds=20)),
    **dag_callbacks(),
    params={
        "batch_size": Param(
            None, type=["null", "integer"], minimum=1, maximum=100_000,
            description="Stream entries per transaction. Empty = ANALYTICS_LOAD_BATCH_SIZE (5000).",
        ),
        "time_budget_seconds": Param(
            None, type=["null", "integer"], minimum=0, maximum=3600,
            description="Stop reading after this many seconds. Empty = ANALYTICS_LOAD_TIME_BUDGET_SECONDS (55).",
        ),
        "follow_seconds": Param(
            None, type=["null", "integer"], minimum=0, maximum=3600,
            description="Keep waiting for new events this long (within the budget); 0 = stop once the stream "
            "is empty. Empty = ANALYTICS_LOAD_FOLLOW_SECONDS (55).",
        ),
    },
)  # fmt: skip
def events_load():
    @task
    def partitions() -> dict:
        from analytics.load.tasks import maintain_partitions

        return maintain_partitions()

    @task
    def streams() -> list[str]:
        from analytics.load.tasks import load_streams

        return load_streams()

    # all_done: load even when partition upkeep failed; the timeout catches a run hung on a dead socket.
    @task(trigger_rule="all_done", execution_timeout=timedelta(minutes=10), map_index_template="{{ stream }}")
    def load(stream: str) -> dict:
        from analytics.load.tasks import load_events

        ctx = get_current_context()
        ctx["stream"] = stream  # type: ignore[typeddict-unknown-key]  # names the mapped task in the UI
        params = ctx["params"]
        return load_events(
            run_id=ctx["run_id"],
            stream=stream,
            batch_size=params["batch_size"],
            time_budget_seconds=params["time_budget_seconds"],
            follow_seconds=params["follow_seconds"],
        )

    partitions() >> load.expand(stream=streams())


events_load()
