"""Failure alerts without storms: one page per failing task (or per DAG whose runs fail with no task saying why)
while it keeps failing, a reminder after the cooldown, one "Resolved"; and the failures no task callback explains
(Airflow failing a task from outside, a task killed before its callback). Real PostgreSQL, Airflow's own code paths
(dag.test(), the dag-processor's callback runners), a local HTTP server for the webhook."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime

import pytest

from tests.monitor.conftest import free_port

STORM_DAG = textwrap.dedent(
    '''
    """Test DAG: one task that fails while ALERTS_TEST_FAIL is set (with its value in the error)."""
    import os
    from datetime import datetime

    from airflow.sdk import dag, task

    from analytics.dag_defaults import dag_callbacks, default_args


    @dag(
        dag_id="alerts_test_storm",
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        tags=["test"],
        default_args=default_args(retries=0),
        **dag_callbacks(),
    )
    def alerts_test_storm():
        @task
        def churn():
            if os.environ.get("ALERTS_TEST_FAIL"):
                raise RuntimeError(f"store refused batch {os.environ['ALERTS_TEST_FAIL']}")

        churn()


    alerts_test_storm()
    '''
)


def _bag(tmp_path, source: str, name: str):
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    (tmp_path / name).write_text(source)
    bag = DagBag(dag_folder=str(tmp_path))
    assert bag.import_errors == {}
    DagBundlesManager().sync_bundles_to_db()
    sync_bag_to_db(bag, "dags-folder", None)
    return bag


def details_log_url(db, run_id: str) -> str:
    """The log link the open row holds, which must be the latest failed run's."""
    return db.execute("SELECT log_url FROM analytics.alerts WHERE run_id = %s", (run_id,)).fetchone()[0]


def _rows(db, dag_id: str) -> list[tuple]:
    return db.execute(
        "SELECT kind, alert_key, state, title, run_id, send_count, details FROM analytics.alerts "
        "WHERE dag_id = %s ORDER BY id",
        (dag_id,),
    ).fetchall()


@pytest.fixture
def hook(settings, http_receiver, monkeypatch):
    base, posts = http_receiver
    monkeypatch.setenv("ALERT_WEBHOOK_URL", f"{base}/hook")
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.test/")
    monkeypatch.setenv("ALERT_COOLDOWN_MINUTES", "60")
    return posts


def test_a_task_failing_every_run_pages_once_reminds_after_the_cooldown_and_resolves_once(
    tmp_path, airflow_db, db, hook, monkeypatch
):
    posts = hook
    dag = _bag(tmp_path, STORM_DAG, "storm_dag.py").get_dag("alerts_test_storm")
    db.execute("UPDATE analytics.alerts SET state = 'resolved' WHERE dag_id = 'alerts_test_storm'")

    failed = []
    for attempt in (1, 2, 3):
        monkeypatch.setenv("ALERTS_TEST_FAIL", f"#{attempt}")
        run = dag.test()
        assert run.state == "failed"
        failed.append(run.run_id)
    # One page for three failed runs; the row follows the latest failure.
    assert [(b["kind"], b["state"]) for _, b in posts] == [("task_failed", "firing")]
    assert "store refused batch #1" in posts[0][1]["text"]
    [row] = [r for r in _rows(db, "alerts_test_storm") if r[2] == "firing"]
    kind, key, _, _, run_id, send_count, details = row
    assert (kind, key, run_id, send_count) == ("task_failed", "task_failed:alerts_test_storm:churn:-1", failed[2], 1)
    assert details["failureCount"] == 3 and details["firstRunId"] == failed[0]
    assert "batch #3" in details["exceptionMessage"] and details["runId"] == failed[2]
    assert details["recentRunIds"] == failed
    # Every run failed because its task did, and the task said so: the DAG-level notifier pages nothing more.
    assert not [r for r in _rows(db, "alerts_test_storm") if r[0] == "dag_failed"]

    # The cooldown has passed (0 minutes): the next failure reminds, once, with the latest error and log.
    monkeypatch.setenv("ALERT_COOLDOWN_MINUTES", "0")
    monkeypatch.setenv("ALERTS_TEST_FAIL", "#4")
    fourth = dag.test()
    assert len(posts) == 2
    reminder = posts[1][1]
    assert reminder["state"] == "firing"
    assert reminder["title"].startswith("alerts_test_storm.churn still failing since ")
    assert reminder["title"].endswith(": 4 failures")
    assert "store refused batch #4" in reminder["text"] and fourth.run_id in reminder["text"]
    assert reminder["run_id"] == fourth.run_id and reminder["log_url"] == details_log_url(db, fourth.run_id)
    assert reminder["details"]["failureCount"] == 4
    assert [r[5] for r in _rows(db, "alerts_test_storm") if r[2] == "firing"] == [2]  # send_count

    # A success resolves it: one "Resolved" for the four failed runs.
    monkeypatch.setenv("ALERT_COOLDOWN_MINUTES", "60")
    monkeypatch.delenv("ALERTS_TEST_FAIL")
    ok = dag.test()
    assert ok.state == "success"
    assert [b["state"] for _, b in posts] == ["firing", "firing", "resolved"]
    assert "4 failures" in posts[2][1]["message"] and fourth.run_id in posts[2][1]["message"]
    assert [r[2] for r in _rows(db, "alerts_test_storm")] == ["resolved"]
    assert dag.test().state == "success" and len(posts) == 3


def test_task_failure_pages_when_postgresql_cannot_be_reached(settings, http_receiver, monkeypatch):
    from analytics.config import Settings
    from analytics.monitor.alerts.conditions import page_failure
    from analytics.monitor.alerts.model import Alert

    base, posts = http_receiver
    s = Settings.from_env({"ALERT_WEBHOOK_URL": f"{base}/hook"})
    alert = Alert(kind="task_failed", alert_key="task_failed:x:y:-1", title="x.y failed", message="Error: boom")
    dead_db = f"postgresql://postgres@127.0.0.1:{free_port()}/analytics"
    result = page_failure(alert, s, dead_db, datetime.now(UTC), subject="x.y")
    assert result["webhook"] == "sent" and result["table"].startswith("failed:")
    assert [b["title"] for _, b in posts] == ["x.y failed"]


def test_a_task_airflow_failed_from_outside_says_so(tmp_path, airflow_db, db, hook, monkeypatch):
    """The scheduler fails a task whose heartbeat stopped: the dag-processor runs its failure callback with no
    exception. Built as the scheduler builds the request, run by the processor's own code."""
    import structlog
    from airflow.api_fastapi.execution_api.datamodels.taskinstance import DagRun as DRDataModel
    from airflow.api_fastapi.execution_api.datamodels.taskinstance import TIRunContext
    from airflow.callbacks.callback_requests import TaskCallbackRequest
    from airflow.dag_processing.processor import _execute_task_callbacks
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import select

    from analytics.monitor.alerts.notifier import NO_EXCEPTION, NO_EXCEPTION_CHECK

    posts = hook
    bag = _bag(tmp_path, STORM_DAG, "storm_dag.py")
    db.execute("UPDATE analytics.alerts SET state = 'resolved' WHERE dag_id = 'alerts_test_storm'")
    run = bag.get_dag("alerts_test_storm").test()  # a run to hang the task instance on (it succeeds)
    with create_session() as session:
        ti = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == "alerts_test_storm", TaskInstance.run_id == run.run_id)
        ).one()
        request = TaskCallbackRequest(
            filepath="storm_dag.py",
            bundle_name="dags-folder",
            bundle_version=None,
            ti=ti,
            msg="Task did not emit heartbeat within time limit",
            task_callback_type=TaskInstanceState.FAILED,
            context_from_server=TIRunContext(
                dag_run=DRDataModel.model_validate(ti.dag_run, from_attributes=True),
                max_tries=ti.max_tries,
                variables=[],
                connections=[],
                xcom_keys_to_clear=[],
            ),
        )
    _execute_task_callbacks(bag, request, structlog.get_logger())

    assert len(posts) == 1
    body = posts[0][1]
    assert f"Error: {NO_EXCEPTION}" in body["text"]
    assert "unknown error" not in body["text"]
    assert body["first_check"] == NO_EXCEPTION_CHECK and "dmesg" in body["first_check"]
    assert body["details"]["exceptionType"] is None and body["runbook"].endswith("#task-failure")


SILENT_DAG = STORM_DAG.replace("alerts_test_storm", "alerts_test_silent").replace("churn", "vanish")


def test_a_run_failing_with_no_task_alert_pages_once_per_dag_and_resolves(tmp_path, airflow_db, db, hook, monkeypatch):
    """A task killed by the OS runs no failure callback (simulated: the task's callback removed); the run's failure
    callback says so, with the last task and Airflow's reason; again in the processor's minimal context; resolved
    by a successful run."""
    import structlog
    from airflow.callbacks.callback_requests import DagCallbackRequest
    from airflow.dag_processing.processor import _execute_dag_callbacks

    posts = hook
    bag = _bag(tmp_path, SILENT_DAG, "silent_dag.py")
    dag = bag.get_dag("alerts_test_silent")
    db.execute("UPDATE analytics.alerts SET state = 'resolved' WHERE dag_id = 'alerts_test_silent'")
    dag.get_task("vanish").on_failure_callback = []  # killed: its callback never runs

    monkeypatch.setenv("ALERTS_TEST_FAIL", "oom")
    first = dag.test()
    assert first.state == "failed"
    assert not [r for r in _rows(db, "alerts_test_silent") if r[0] == "task_failed"]
    assert len(posts) == 1
    body = posts[0][1]
    assert body["kind"] == "dag_failed" and body["alert_key"] == "dag_failed:alerts_test_silent"
    assert body["title"] == f"alerts_test_silent run {first.run_id} failed and no task reported why"
    assert "Last task: alerts_test_silent.vanish" in body["text"] and "task_failure" in body["text"]
    assert body["runbook"].endswith("#dag-run-failed")

    # Another run failing silently, inside the cooldown: recorded, not paged.
    second = dag.test()
    assert second.state == "failed" and len(posts) == 1
    [row] = [r for r in _rows(db, "alerts_test_silent") if r[2] == "firing"]
    assert row[4] == second.run_id and row[6]["failureCount"] == 2

    # The dag-processor's context without a last task (dag, run_id, reason only), after the cooldown: one reminder.
    monkeypatch.setenv("ALERT_COOLDOWN_MINUTES", "0")
    request = DagCallbackRequest(
        filepath="silent_dag.py",
        bundle_name="dags-folder",
        bundle_version=None,
        dag_id="alerts_test_silent",
        run_id="scheduled__2026-01-02T00:00:00+00:00",
        context_from_server=None,
        is_failure_callback=True,
        msg="timed_out",
    )
    _execute_dag_callbacks(_bag(tmp_path, SILENT_DAG, "silent_dag.py"), request, structlog.get_logger())
    assert len(posts) == 2
    reminder = posts[1][1]
    assert reminder["title"].endswith(": 3 failures") and "still failing since" in reminder["title"]
    assert "Airflow's reason: timed_out" in reminder["text"] and "Last task: not known" in reminder["text"]

    # A successful run resolves it, once.
    monkeypatch.setenv("ALERT_COOLDOWN_MINUTES", "60")
    monkeypatch.delenv("ALERTS_TEST_FAIL")
    assert dag.test().state == "success"
    assert [b["state"] for _, b in posts] == ["firing", "firing", "resolved"]
    assert [r[2] for r in _rows(db, "alerts_test_silent")] == ["resolved"]
    assert dag.test().state == "success" and len(posts) == 3
