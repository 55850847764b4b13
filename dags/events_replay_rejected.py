"""
### events_replay_rejected — send kept rejections through the collector again

After the cause of rejections is fixed (a user created late, a registry or schema change deployed), trigger
this DAG from the UI's form. It takes the rows of `analytics.rejected_events` of one `stage` (`collector`, or
`segment` for events the Segment mapping produced), rejected in `[since, until)` and, if given, for one
`reason` (`reference`, `schema`, `timestamp`, …), at most `limit`, oldest first. Each payload is re-validated
by **the collector's own code** (`Ingestor.revalidate`: schema, business rules, reference check, the atomic
dedupe-and-append script), as of the moment it first arrived: the event keeps its original occurrence time
and gets a new id and `received_at` = now, so `events_load` loads it on its next run and `events_enrich`
enriches it in the current hour. User agent and IP were not kept with the rejection and stay empty.

Each row is marked (`replay_outcome`): `replayed` (with `replay_event_id`, the new event's id), `duplicate`
(the dedupe found it already appended: `replay_event_id` is that event) or `rejected` (still refused:
`replay_reason`, `replay_detail`; a later replay tries it again). Rows replayed or duplicate are never
replayed again, and an event without its own idempotency key is given `rejected-event-<row id>`, so a replay
repeated after a crash before the marking appends nothing twice. The counts per outcome (and still-rejected
per reason) are in the task log and in `analytics.job_runs` (job = `replay`).

`dry_run` (on by default) validates without appending or marking: it cannot check references (that happens in
the append), so a `reference` rejection shows as `passes`. Turn it off to replay.

**If it fails:** nothing is half-done that a re-run would repeat: rows appended and marked stay so, the rest are
picked up again. Read the task log (Redis or PostgreSQL unreachable → see the RUNBOOK's first checks).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, get_current_context, task

from analytics.dag_defaults import dag_callbacks, default_args


@dag(
    dag_id="events_replay_rejected",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["analytics", "replay"],
    doc_md=__doc__,
    default_args=default_args(retries=1, retry_delay=timedelta(minutes=1)),
    **dag_callbacks(),
    params={
        "stage": Param(
            "collector", type="string", enum=["collector", "segment"],
            description="Which rejections: collector (native API) or segment (events the Segment mapping produced).",
        ),
        "reason": Param(
            None, type=["null", "string"],
            description="Only rows with this reason (reference, schema, timestamp, entity_type, unknown_event_type, "
            "...). Empty = every reason.",
        ),
        "since": Param(
            None, type=["null", "string"], format="date-time",
            description="Only rows rejected at or after this instant (ISO 8601 with zone). Empty = from the first.",
        ),
        "until": Param(
            None, type=["null", "string"], format="date-time",
            description="Only rows rejected before this instant (ISO 8601 with zone). Empty = when the run was "
            "triggered.",
        ),
        "limit": Param(
            10_000, type="integer", minimum=1, maximum=1_000_000, description="At most this many rows, oldest first."
        ),
        "dry_run": Param(
            True, type="boolean",
            description="Validate and count only: append nothing, mark nothing. Turn off to replay.",
        ),
    },
)  # fmt: skip
def events_replay_rejected():
    @task
    def replay() -> dict:
        from analytics.collect.replay import run_replay_from_params

        ctx = get_current_context()
        return run_replay_from_params(ctx["params"], ctx["dag_run"].run_after, run_id=ctx["run_id"])

    replay()


events_replay_rejected()
