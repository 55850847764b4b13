"""
### events_enrich — hourly context for loaded events → `analytics.attribution`

For every event **received** in the run's data interval `[data_interval_start, data_interval_end)`
this makes one `analytics.attribution` row: browser, OS, device type / brand / model and a bot flag
from the user agent (each distinct string parsed once — once ever: parses are kept in
`analytics.user_agents`, redone when ua-parser or our mapping changes — with the `ua-parser-rs`
accelerator when installed); the session's start, duration, referrer, landing page and first-touch
UTM; and the referenced asset / license / project / payout **as it was at the event's time** (from
`analytics.entity_versions`, kept by triggers on the host tables: history rather than a snapshot
captured once, because a captured-once value is only right if the first enrichment runs promptly —
a backfill, a re-run or a late event would stamp the entity as it is at enrichment time).

**Keys, not copies.** Per event the run stores only keys in `analytics.event_context` (event id,
received_at, the user agent's cache key, the session id, the entity version's id, enriched_at; and
its own referrer / landing page / UTM when the event has no session). `analytics.attribution` is a
view joining them to `analytics.user_agents`, `analytics.sessions` and `analytics.entity_versions`:
same columns, one row per enriched event. The session is the single truth for session context: a late
event from before a session's known start moves the session's start and first touch, and every hour's
rows of that session show it at once, with nothing rewritten. Query the view; write (tests, repairs)
to `analytics.event_context`.

**Why `received_at`.** It is assigned by the collector, is the partition key, and is what the
loader's watermark promises about ("every event received before the watermark is loaded"). An
interval on `occurred_at` could be enriched before a late or offline client sends its events and
would never be looked at again; on `received_at`, a late event lands in the interval of its arrival
and is enriched by that run. `wait_for_loader` therefore holds the run until
`max(analytics.load_runs.watermark) >= data_interval_end`, and fails (→ alert) after two hours.

The context rows never pass through Python: one set-based `INSERT … SELECT` joins the interval's events
to the run's small working sets (distinct user agents, entity versions as event-time ranges). Python parses
the user agents the cache lacks (in forked workers when there are thousands and cores to spare) and, with
**pandas**, aggregates the sessions (first / last time, count, first known actor, first event by time then
id and its referrer / landing page / UTM) on a second connection in the run's exported snapshot (the run
is `REPEATABLE READ`, so both read the same events), in a thread, while the first connection writes the
context rows: narrow COPY reads, vectorised group min / max / count, no sort of the hour. The ~33,000 rows
are merged into `analytics.sessions` in SQL. PostgreSQL's window query for the same aggregate is the
tests' reference; on the second core it was 4–7 % faster in median, within the runs' spread (BENCHMARKS.md).

**Sessions for events without a `sessionId`** (browsers through analytics.js, most server clients): the
run derives them per actor — an actor's sessionless events of one UTC day open a session at the day's first
event and after every gap longer than `ANALYTICS_SESSION_INACTIVITY_MINUTES` (30). The session id is a digest
of the actor and its first event's time, and every actor-day the interval touches is derived whole from its
events whichever interval received them (earlier-enriched events of that day are re-pointed, sessions that no
longer exist dropped), so on-time runs, late events, re-runs and backfills in any order give the same sessions
(`analytics.sessions.derived`; `analytics/enrich/derived.py`).

**Re-runs and backfills are safe.** A run rewrites its interval's context rows in one transaction
(comparing with the rows already there and writing only what changed, deleting rows whose event is
gone) and subtracts what the earlier rows had counted from their sessions, so running an interval twice
gives the same rows. The transaction commits without waiting for its WAL flush (`synchronous_commit =
off`): a database crash in the fraction of a second after a commit can lose that whole run (never part
of it); its events then show as waiting in the monitor's enrichment backlog, and re-running the
interval writes them again. Backfill past hours with
`airflow backfill create --dag-id events_enrich --from-date 2026-01-01T00:00Z --to-date 2026-01-01T05:00Z`
(dates are logical dates = interval starts, both ends inclusive: six hours here; the scheduler starts
backfill runs only while the DAG is unpaused) or clear a run in the UI. A run triggered without a logical date
(`airflow dags trigger events_enrich`, or the UI's form with the date left empty) enriches the last whole UTC hour
before it; with one (`-l 2026-01-01T05:00:00Z`), the hour that ends there. Each run's counts and timings
are in `analytics.job_runs` (job `enrich`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task

from analytics.dag_defaults import dag_callbacks, default_args, run_interval

HOUR = timedelta(hours=1)


@dag(
    dag_id="events_enrich",
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=4,
    tags=["analytics", "enrich"],
    doc_md=__doc__,
    default_args=default_args(retries=2, retry_delay=timedelta(minutes=1)),
    **dag_callbacks(),
    params={
        "wait_for_loader": Param(
            True,
            type="boolean",
            description="Hold the run until the loader's watermark passes the interval's end. "
            "Turn off only to re-enrich old hours while the loader is down.",
        ),
        "parser": Param(
            "auto",
            type="string",
            enum=["auto", "rust", "python"],
            description="User-agent resolver for strings not parsed before: auto = ua-parser-rs when installed, "
            "else pure Python.",
        ),
    },
)
def events_enrich():
    @task.sensor(task_id="wait_for_loader", poke_interval=60, timeout=2 * 3600, mode="reschedule")
    def wait_for_loader() -> bool:
        from analytics.load.watermark import loader_ready

        ctx = get_current_context()
        return loader_ready(ctx["params"], run_interval(ctx, HOUR)[1])

    @task
    def enrich() -> dict:
        from analytics.enrich.tasks import enrich_data_interval

        ctx = get_current_context()
        start, end = run_interval(ctx, HOUR)
        return enrich_data_interval(start, end, run_id=ctx["run_id"], parser=ctx["params"]["parser"])

    wait_for_loader() >> enrich()


events_enrich()
