"""What a failure alert says: the first check matches the error (Redis's own exceptions, not any refused socket), every
DAG has its own, and the "Error:" line is the message's first line, bounded, the whole text kept in the details."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest

from tests.monitor.conftest import free_port


def _real_errors() -> dict[str, BaseException]:
    """Exceptions as the libraries raise them, against a port nothing listens on."""
    import psycopg
    import redis

    port = free_port()
    out: dict[str, BaseException] = {}
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2)
    except ConnectionRefusedError as exc:
        out["builtin"] = exc
    try:
        redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=2).ping()
    except redis.exceptions.ConnectionError as exc:
        out["redis"] = exc
    try:
        psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/x", connect_timeout=2)
    except psycopg.OperationalError as exc:
        out["postgres"] = exc
    return out


def test_first_check_tells_redis_from_any_other_refused_connection():
    from analytics.monitor.alerts.notifier import first_check

    errors = _real_errors()
    assert first_check("events_load", errors["redis"]).startswith("Redis unreachable")
    builtin = first_check("events_load", errors["builtin"])
    assert "Redis" not in builtin and "network connection failed" in builtin
    assert first_check("events_load", errors["postgres"]).startswith("PostgreSQL refused")


def test_every_dag_has_its_own_first_check(dagbag):
    from analytics.monitor.alerts.notifier import _BY_DAG

    assert set(dagbag.dag_ids) <= set(_BY_DAG), set(dagbag.dag_ids) - set(_BY_DAG)


@pytest.mark.parametrize(
    "message",
    [
        'connection failed: FATAL:  role "x" does not exist\nDETAIL: more\nHINT: even more',
        "x" * 2000,
    ],
)
def test_the_error_line_is_the_first_line_bounded_and_details_keep_it_all(message):
    from analytics.monitor.alerts.notifier import ERROR_LINE_MAX, error_line

    class FakeRun:  # the context's shape: ti, dag_run, exception
        run_after = datetime(2026, 1, 1, tzinfo=UTC)

    class FakeTi:
        dag_id, task_id, run_id, map_index, try_number, max_tries = "events_load", "load", "r1", -1, 1, 0
        log_url = "https://airflow.example.test/log"

    from analytics.monitor.alerts.notifier import failure_alert

    exc = RuntimeError(message)
    alert = failure_alert({"ti": FakeTi(), "dag_run": FakeRun(), "exception": exc})
    [line] = [x for x in alert.message.splitlines() if x.startswith("Error: ")]
    assert line == f"Error: {error_line(exc)}"
    assert len(error_line(exc)) <= ERROR_LINE_MAX
    assert message.splitlines()[0][:100] in line and "DETAIL" not in alert.message
    assert alert.details["exceptionMessage"] == message
    # That context has no data interval (a run triggered without a logical date): the alert says so, not "None → None".
    assert "Data interval: none (triggered without a logical date; due 2026-01-01T00:00:00+00:00)" in alert.message
