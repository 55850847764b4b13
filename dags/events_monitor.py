"""
### events_monitor — pipeline vital signs → alerts

Every 5 minutes, reads the same counters as `GET /v1/admin/stats` and the dashboard, and alerts on:

| condition | default threshold (Settings / env) |
|---|---|
| collector deduplication rate, per source (message: by reason and event type) | > 10 % of ≥ 20 checks in 15 min (`ANALYTICS_MONITOR_DEDUP_RATE_MAX`) |
| collector rejection rate | > 5 % (`ANALYTICS_MONITOR_REJECTION_RATE_MAX`) |
| last nightly deduplication rate | > 10 % (`ANALYTICS_MONITOR_NIGHTLY_DEDUP_RATE_MAX`) |
| no deduplication run (the nightly DAG paused, unscheduled, or killed without a word) | > 26 h since the last, or since the install (`ANALYTICS_MONITOR_NIGHTLY_OVERDUE_HOURS`) |
| stream lag (entries not delivered to `analytics-loader`) | > 50,000 (`ANALYTICS_MONITOR_LAG_MAX`) |
| an entry pending unacknowledged (idle in the group: XPENDING IDLE, not its age) — a stuck batch | > 300 s (`ANALYTICS_MONITOR_PENDING_AGE_MAX_SECONDS`) |
| entries in shard streams the loader does not drain (`ANALYTICS_STREAM_SHARDS` lowered before they were empty) | any |
| time since the last successful load | > 10 min (`ANALYTICS_MONITOR_LOAD_STALE_MINUTES`) |
| loaded events without enrichment after 2 h | > 100 (`ANALYTICS_MONITOR_ENRICH_BACKLOG_MAX`) |
| Redis not durable: AOF off, or a maxmemory-policy that evicts (what `/readyz` reports) | on (`ANALYTICS_MONITOR_REQUIRE_DURABLE_REDIS=0` turns it off for a lab Redis) |
| Redis lost accepted events: a stream's entries-added (XINFO STREAM) fell since the last pass (a restart without the AOF, a failover, a flush) | any; stays firing 24 h (`ANALYTICS_MONITOR_STREAM_LOSS_HOURS`) |
| accepted events not in PostgreSQL: per whole hour the loader has passed, the collector's accepted count against the rows stored, the events dropped for an idempotency key an earlier event holds and the entries set aside (`analytics.count_checks`) | any; fires while an hour of the last 24 does not add up |

An alert pages once per condition; while it stays open it is re-sent only after
`ALERT_COOLDOWN_MINUTES` (60), and a "Resolved" message follows when it clears. Each alert names this
run and links its log. A check that cannot
run (store down) alerts on its own and leaves its conditions open. Every pass is recorded in
`analytics.job_runs` (job = `monitor`); alerts are in `analytics.alerts`. See docs/RUNBOOK.md.

Dead-man switch: with `ANALYTICS_HEARTBEAT_URL` set, a pass whose checks all ran, and whose firing alerts all
reached a channel, GETs it (healthchecks.io, Cronitor, …), and that service pages when the pings stop: scheduler,
PostgreSQL or this DAG down, a check blind, or an alert every channel refused (RUNBOOK heartbeat-missed). The
pass's `heartbeat` (job_runs stats, XCom) says sent, skipped or failed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, get_current_context, task

from analytics.dag_defaults import dag_callbacks, default_args


@dag(
    dag_id="events_monitor",
    schedule=timedelta(minutes=5),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["analytics", "monitor"],
    doc_md=__doc__,
    default_args=default_args(retries=1, retry_delay=timedelta(seconds=30)),
    **dag_callbacks(),
)
def events_monitor():
    @task(execution_timeout=timedelta(minutes=4))
    def check() -> dict:
        from analytics.monitor.job import run_monitor

        ctx = get_current_context()
        return run_monitor(run_id=ctx["run_id"], log_url=ctx["ti"].log_url)

    check()


events_monitor()
