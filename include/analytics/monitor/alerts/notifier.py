"""Notifiers: every task of every DAG alerts on-call on its final failure (once while it keeps failing, a reminder
after the cooldown), and resolves that alert when it next succeeds; every DAG alerts when a run fails and no task
said why (a task killed before its callback, or one that never started), and resolves that when a run succeeds.

Airflow 3 runs a task's `on_failure_callback` only when the try ends FAILED (no retries left);
a try that will be retried goes to `on_retry_callback` instead, which we leave unset.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import BaseNotifier

from analytics.monitor.alerts.model import RUNBOOK, Alert

log = logging.getLogger("analytics.monitor.alerts")

# Exception class name → first thing to check; the most specific wins over the per-DAG default.
_BY_EXCEPTION = {
    "OperationalError": 'PostgreSQL refused or dropped the connection: `pg_isready -d "$DATABASE_URL"`, '
    "then the Airflow connection `analytics_postgres`.",
    "UndefinedTable": "Migrations not applied: `python -m analytics.migrate`.",
    "UndefinedColumn": "Migrations not applied: `python -m analytics.migrate`.",
}
# redis-py's own classes (redis.exceptions.*, not Python's builtins of the same names).
_BY_REDIS_EXCEPTION = {
    "ConnectionError": 'Redis unreachable: `redis-cli -u "$REDIS_URL" ping`, then the Airflow connection '
    "`analytics_redis`.",
    "TimeoutError": 'Redis did not answer in time: `redis-cli -u "$REDIS_URL" ping`, then '
    '`redis-cli -u "$REDIS_URL" INFO persistence` (a stalled AOF rewrite) and `SLOWLOG GET 10`.',
}
# Python's builtins: a socket to something (which, the error and the traceback say) failed.
_BY_BUILTIN_EXCEPTION = {
    "ConnectionError": "A network connection failed (refused, reset or aborted): the error and the traceback's "
    "last frame say to what (host, port); is that service up and reachable from the worker?",
    "TimeoutError": "Something did not answer in time: the traceback's last frame says what; "
    '`redis-cli -u "$REDIS_URL" ping` and `pg_isready -d "$DATABASE_URL"`, and long-running queries in '
    "pg_stat_activity.",
}
_BY_DAG = {
    "events_load": "Stream backlog and pending entries: `redis-cli XINFO GROUPS analytics:events`; "
    "then the task log for the first failing entry.",
    "events_enrich": "The task log for the failing interval; re-run it with "
    "`airflow tasks clear events_enrich -s <start> -e <end>` once fixed.",
    "events_dedup_nightly": "The task log; re-run with `airflow dags trigger events_dedup_nightly -c '{\"hours\": 24}'`.",
    "events_monitor": "The task log: the monitor failing means its own checks are blind until fixed.",
    "events_replay_rejected": "The task log; rows already replayed stay marked, so triggering it again is safe.",
    "events_maintenance": "The task log names the table or the `airflow db clean` step that failed (often a lock "
    "or a statement timeout); nothing is lost, tables only grow until it runs: re-run the task.",
}

# Airflow 3 runs the failure callback without an exception when it failed the task itself: the scheduler saw no
# heartbeat (the worker died, the process was killed, out of memory) or the task sat queued too long.
NO_EXCEPTION = (
    "no exception reached the callback: Airflow failed the task from outside it — its heartbeat stopped "
    "(worker gone, killed, out of memory) or it never started; the scheduler's and the task's logs say which"
)
NO_EXCEPTION_CHECK = (
    "The task's log: cut off mid-work with no traceback means the process was killed (on the worker host "
    "`dmesg -T | grep -iE 'out of memory|killed process'`, or the container's OOMKilled state and memory limit); "
    "empty means it never started (the scheduler's log for the task: 'without heartbeat', 'queued'; is a worker "
    "running?). RUNBOOK task-failure, 'No exception'."
)
ERROR_LINE_MAX = 300  # the "Error:" line: the first line of the message, cut here; the full text is in details


def first_check(dag_id: str | None, exception: BaseException | None) -> str:
    if exception is None:
        return NO_EXCEPTION_CHECK
    for cls in type(exception).__mro__:
        if cls.__module__.startswith("redis") and cls.__name__ in _BY_REDIS_EXCEPTION:
            return _BY_REDIS_EXCEPTION[cls.__name__]
        if cls.__module__ == "builtins" and cls.__name__ in _BY_BUILTIN_EXCEPTION:
            return _BY_BUILTIN_EXCEPTION[cls.__name__]
        if cls.__name__ in _BY_EXCEPTION:
            return _BY_EXCEPTION[cls.__name__]
    return _BY_DAG.get(
        dag_id or "", "Open the log link: the traceback's last frame in include/analytics names the step."
    )


def error_line(exc: BaseException | None) -> str:
    """`Type: first line of the message`, at most ERROR_LINE_MAX characters (psycopg's run over several lines)."""
    if exc is None:
        return NO_EXCEPTION
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    line = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    if len(line) > ERROR_LINE_MAX or first != text:
        line = line[: ERROR_LINE_MAX - 1].rstrip() + "…"
    return line


def _iso(value: Any) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else (str(value) if value is not None else None)


def _run_after(context: dict) -> str | None:
    """When the run was due: a success resolves failures of runs due no later than its own."""
    return _iso(getattr(context.get("dag_run"), "run_after", None))


def task_failure_key(dag_id: str, task_id: str, map_index: int | None) -> str:
    return f"task_failed:{dag_id}:{task_id}:{-1 if map_index is None else map_index}"


def _where(ti) -> str:
    map_index = getattr(ti, "map_index", -1)
    return f"{ti.dag_id}.{ti.task_id}" + (f"[{map_index}]" if map_index is not None and map_index >= 0 else "")


def failure_alert(context: dict) -> Alert:
    """Build the alert from the task context Airflow hands to on_failure_callback."""
    ti = context["ti"]
    exc = context.get("exception")
    try_number = getattr(ti, "try_number", None)
    max_tries = getattr(ti, "max_tries", None)
    of = max_tries + 1 if max_tries is not None else None
    map_index = getattr(ti, "map_index", -1)
    where = _where(ti)
    start, end = _iso(context.get("data_interval_start")), _iso(context.get("data_interval_end"))
    # A run triggered without a logical date (the UI's form, `airflow dags trigger`) has no data interval.
    interval = (
        f"{start} → {end}" if start or end else f"none (triggered without a logical date; due {_run_after(context)})"
    )
    error = error_line(exc)
    try:
        log_url = ti.log_url
    except Exception:  # a log URL must never cost us the alert
        log_url = None
    message = "\n".join(
        [
            f"DAG: {ti.dag_id}   Task: {ti.task_id}" + (f"   Map index: {map_index}" if where.endswith("]") else ""),
            f"Data interval: {interval}",
            f"Try {try_number} of {of} (final: no retries left)",
            f"Error: {error}",
        ]
    )
    return Alert(
        kind="task_failed",
        # One alert per failing task: later runs failing update it (conditions.page_failure), a success resolves it.
        alert_key=task_failure_key(ti.dag_id, ti.task_id, map_index),
        title=f"{where} failed on try {try_number} of {of}",
        message=message,
        severity="error",
        first_check=first_check(ti.dag_id, exc),
        runbook=f"{RUNBOOK}#task-failure",
        details={
            "dagId": ti.dag_id,
            "taskId": ti.task_id,
            "mapIndex": map_index,
            "runId": ti.run_id,
            "dataIntervalStart": start,
            "dataIntervalEnd": end,
            "runAfter": _run_after(context),
            "tryNumber": try_number,
            "maxTries": of,
            "exceptionType": type(exc).__name__ if exc is not None else None,
            "exceptionMessage": str(exc) if exc is not None else None,
            "error": error,
        },
        dag_id=ti.dag_id,
        task_id=ti.task_id,
        run_id=ti.run_id,
        log_url=log_url,
    )


class FailureNotifier(BaseNotifier):
    """on_failure_callback: send the task failure to every enabled channel and analytics.alerts."""

    def notify(self, context) -> None:
        try:
            from analytics.config import get_settings
            from analytics.connections import postgres_dsn
            from analytics.monitor.alerts.conditions import page_failure

            alert = failure_alert(context)
            try:
                dsn = postgres_dsn()
            except Exception as exc:  # a broken analytics_postgres must not silence the page: channels first
                log.exception("failure notifier cannot reach analytics.alerts; sending to the channels only")
                dsn = exc
            page_failure(alert, get_settings(), dsn, datetime.now(UTC), subject=_where(context["ti"]))
        except Exception:  # the callback must never fail the task's teardown; the log still has it
            log.exception("failure notifier could not build or deliver the alert")


class SuccessNotifier(BaseNotifier):
    """on_success_callback: the task's open failure alerts (earlier runs, or this run before a clear) are resolved,
    and each channel is told so."""

    def notify(self, context) -> None:
        try:
            from analytics.config import get_settings
            from analytics.connections import postgres_dsn
            from analytics.monitor.alerts.conditions import Origin, resolve_task_failures

            ti = context["ti"]
            try:
                log_url = ti.log_url
            except Exception:  # a log URL must never cost us the resolution
                log_url = None
            origin = Origin(dag_id=ti.dag_id, task_id=ti.task_id, run_id=ti.run_id, log_url=log_url)
            map_index = getattr(ti, "map_index", -1)
            resolve_task_failures(
                postgres_dsn(),
                get_settings(),
                origin,
                -1 if map_index is None else map_index,
                _run_after(context),
                datetime.now(UTC),
            )
        except Exception:  # a succeeded task stays succeeded; the log says why the alert stays open
            log.exception("success notifier could not resolve the task's failure alerts")


# Airflow's `reason` for a failed run (DagRun.update_state, the scheduler's dagrun_timeout).
_REASONS = {
    "task_failure": "a task ended failed",
    "timed_out": "the run passed its dagrun_timeout",
    "all_tasks_deadlocked": "no task could run any more (their upstream failed, or they deadlocked)",
}
DAG_FAILURE_CHECK = (
    "The last task's log (link above, or the run in the UI): empty means it never started — "
    "`airflow dags list-import-errors` (the DAG file failed to import on the worker) and the worker's log; cut off "
    "with no traceback means its process was killed — on the worker host "
    "`dmesg -T | grep -iE 'out of memory|killed process'`, or the container's OOMKilled state. RUNBOOK dag-run-failed."
)


def dag_failure_alert(context: dict) -> Alert:
    """Build the alert from the context Airflow hands a DAG's on_failure_callback: the dag, run_id and reason
    (dag_processing.processor._execute_dag_callbacks), and, when the scheduler knew the last task, that task's
    whole template context (ti, dag_run, data interval)."""
    dag, dag_run, ti = context.get("dag"), context.get("dag_run"), context.get("ti")
    dag_id = getattr(dag, "dag_id", None) or getattr(dag_run, "dag_id", None) or getattr(ti, "dag_id", None)
    run_id = context.get("run_id") or getattr(dag_run, "run_id", None)
    reason = context.get("reason")
    task_id = getattr(ti, "task_id", None)
    log_url = None
    if ti is not None:
        try:
            log_url = ti.log_url
        except Exception:  # a log URL must never cost us the alert
            log_url = None
    lines = [f"DAG: {dag_id}   Run: {run_id}"]
    lines.append(
        f"Airflow's reason: {reason or 'none given'}" + (f" ({_REASONS[reason]})" if reason in _REASONS else "")
    )
    lines.append(
        f"Last task: {_where(ti)} (the task Airflow names for the failure)"
        if ti is not None
        else "Last task: not known (Airflow gave no task with the failure)"
    )
    lines.append(
        "No task failure alert was recorded for this run: a task's process was killed before its failure callback "
        "could run (out of memory, SIGKILL), or a task never started (its DAG file failed to import on the worker)."
    )
    return Alert(
        kind="dag_failed",
        alert_key=f"dag_failed:{dag_id}",
        title=f"{dag_id} run {run_id} failed and no task reported why",
        message="\n".join(lines),
        severity="error",
        first_check=DAG_FAILURE_CHECK,
        runbook=f"{RUNBOOK}#dag-run-failed",
        details={
            "dagId": dag_id,
            "runId": run_id,
            "reason": reason,
            "lastTaskId": task_id,
            "lastTaskMapIndex": getattr(ti, "map_index", None) if ti is not None else None,
            "runAfter": _run_after(context),
            "dataIntervalStart": _iso(context.get("data_interval_start")),
            "dataIntervalEnd": _iso(context.get("data_interval_end")),
        },
        dag_id=dag_id,
        task_id=task_id,
        run_id=run_id,
        log_url=log_url,
    )


class _DagCallback:
    """A DAG-level callback: a plain callable, not a BaseNotifier, whose template rendering needs the SDK DAG
    (dag.test() hands DAG callbacks the scheduler's SerializedDAG)."""

    def __call__(self, context) -> None:
        self.notify(context)

    def notify(self, context) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class DagFailureNotifier(_DagCallback):
    """A DAG's on_failure_callback: when a run fails and no task recorded a failure alert for it (a task killed by the
    OS, or one that never started: no task callback ran), page that, once per DAG while it keeps happening."""

    def notify(self, context) -> None:
        try:
            from analytics.config import get_settings
            from analytics.connections import postgres_dsn
            from analytics.monitor.alerts.conditions import page_failure, run_failure_reported

            alert = dag_failure_alert(context)
            try:
                dsn = postgres_dsn()
            except Exception as exc:
                log.exception("DAG failure notifier cannot reach analytics.alerts; sending to the channels only")
                dsn = exc
            if not isinstance(dsn, Exception):
                try:
                    if run_failure_reported(dsn, alert.dag_id, alert.run_id):
                        log.info("%s run %s failed; a task's alert already said why", alert.dag_id, alert.run_id)
                        return
                except Exception:  # cannot tell whether a task said why: better twice than never
                    log.exception("cannot tell whether a task of %s reported its failure", alert.run_id)
            page_failure(
                alert,
                get_settings(),
                dsn,
                datetime.now(UTC),
                subject=f"{alert.dag_id} (runs failing, no task said why)",
            )
        except Exception:  # a callback must never fail; the log still has it
            log.exception("DAG failure notifier could not build or deliver the alert")


class DagSuccessNotifier(_DagCallback):
    """A DAG's on_success_callback: a successful run resolves (and announces, once) the DAG's open "run failed, no
    task reported why" alert, when that failure was of this run or of one due no later."""

    def notify(self, context) -> None:
        try:
            from analytics.config import get_settings
            from analytics.connections import postgres_dsn
            from analytics.monitor.alerts.conditions import Origin, resolve_dag_failure

            dag, dag_run, ti = context.get("dag"), context.get("dag_run"), context.get("ti")
            dag_id = getattr(dag, "dag_id", None) or getattr(dag_run, "dag_id", None)
            run_id = context.get("run_id") or getattr(dag_run, "run_id", None)
            resolve_dag_failure(
                postgres_dsn(),
                get_settings(),
                Origin(dag_id=dag_id, task_id=getattr(ti, "task_id", None), run_id=run_id),
                _run_after(context),
                datetime.now(UTC),
            )
        except Exception:  # a succeeded run stays succeeded; the log says why the alert stays open
            log.exception("DAG success notifier could not resolve the DAG's failure alert")
