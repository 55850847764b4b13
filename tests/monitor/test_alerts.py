"""Failure alerts: a task that raises alerts once, after its last retry, over a real HTTP and SMTP server."""

from __future__ import annotations

import email
import email.policy
import textwrap
from datetime import UTC, datetime, timedelta

from tests.monitor.conftest import free_port as _free_port

FAILING_DAG = textwrap.dedent(
    '''
    """Test DAG: one task that always raises."""
    from datetime import datetime, timedelta

    from airflow.sdk import dag, task

    from analytics.dag_defaults import default_args


    @dag(
        dag_id="alerts_test_failing",
        schedule="@daily",
        start_date=datetime(2026, 1, 1),
        catchup=False,
        tags=["test"],
        default_args=default_args(retries=1, retry_delay=timedelta(seconds=1)),
    )
    def alerts_test_failing():
        @task
        def explode():
            raise ValueError("disk on fire: partition events_20260101 missing")

        explode()


    alerts_test_failing()
    '''
)


def _run_failing_dag(tmp_path):
    """Run FAILING_DAG (two tries) with dag.test(); returns the run."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    (tmp_path / "failing_dag.py").write_text(FAILING_DAG)
    bag = DagBag(dag_folder=str(tmp_path))
    assert bag.import_errors == {}
    # dag.test() needs the DAG serialized in a bundle; this test DAG lives outside dags/ on purpose.
    DagBundlesManager().sync_bundles_to_db()
    sync_bag_to_db(bag, "dags-folder", None)
    return bag.get_dag("alerts_test_failing").test()


def test_failing_task_alerts_once_after_last_retry(
    tmp_path, airflow_db, settings, db, http_receiver, smtp_receiver, monkeypatch
):
    base, posts = http_receiver
    smtp_port, mails = smtp_receiver
    monkeypatch.setenv("ALERT_WEBHOOK_URL", f"{base}/hook")
    monkeypatch.setenv("ALERT_SLACK_WEBHOOK_URL", f"http://127.0.0.1:{_free_port()}/slack-is-down")
    monkeypatch.setenv("ALERT_EMAIL_TO", "oncall@example.com")
    monkeypatch.setenv("AIRFLOW__SMTP__SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("AIRFLOW__SMTP__SMTP_PORT", str(smtp_port))
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.test/")
    monkeypatch.setenv("ALERT_TIMEOUT_SECONDS", "2")

    run = _run_failing_dag(tmp_path)
    assert run.state == "failed"

    # Exactly one alert per channel, after the second (last) try; the dead Slack hook hid nothing.
    assert [p for p, _ in posts] == ["/hook"]
    body = posts[0][1]
    d = body["details"]
    assert (body["dag_id"], body["task_id"], body["run_id"]) == ("alerts_test_failing", "explode", run.run_id)
    assert (d["tryNumber"], d["maxTries"]) == (2, 2)
    assert d["exceptionType"] == "ValueError"
    assert "partition events_20260101 missing" in d["exceptionMessage"]
    assert d["dataIntervalStart"] and d["dataIntervalEnd"]
    assert body["log_url"].startswith("https://airflow.example.test/dags/alerts_test_failing/runs/")
    assert body["log_url"].endswith("/tasks/explode?try_number=2")
    assert body["first_check"]
    for needle in ("Try 2 of 2", "ValueError: disk on fire", "Data interval:", "Log: https://airflow.example.test/"):
        assert needle in body["text"], needle

    assert len(mails) == 1
    _, rcpts, raw = mails[0]
    mail = email.message_from_string(raw, policy=email.policy.default)
    assert rcpts == ["oncall@example.com"]
    assert mail["Subject"] == "[firing] alerts_test_failing.explode failed on try 2 of 2"
    content = mail.get_content()
    for needle in (run.run_id, "ValueError: disk on fire", "First check:", "?try_number=2"):
        assert needle in content, needle

    rows = db.execute(
        "SELECT kind, dag_id, task_id, channels FROM analytics.alerts WHERE dag_id = 'alerts_test_failing'"
    ).fetchall()
    assert len(rows) == 1
    kind, _, task_id, channels = rows[0]
    assert (kind, task_id) == ("task_failed", "explode")
    assert channels["webhook"] == "sent" and channels["email"] == "sent"
    assert channels["slack"].startswith("failed:")


def test_a_broken_analytics_postgres_connection_still_pages(tmp_path, airflow_db, settings, http_receiver, monkeypatch):
    """The alerts table is out of reach (the connection does not parse): the channels are still told."""
    base, posts = http_receiver
    monkeypatch.setenv("ALERT_WEBHOOK_URL", f"{base}/hook")
    monkeypatch.setenv("AIRFLOW_CONN_ANALYTICS_POSTGRES", '{"conn_type": "postgres", "host": ')
    run = _run_failing_dag(tmp_path)
    assert run.state == "failed"
    assert [p for p, _ in posts] == ["/hook"]
    assert "disk on fire" in posts[0][1]["text"]


def test_every_channel_down_still_logged_and_recorded(settings, db, monkeypatch, caplog):
    from analytics.config import Settings
    from analytics.monitor.alerts.dispatch import deliver
    from analytics.monitor.alerts.model import Alert

    dead = f"http://127.0.0.1:{_free_port()}/x"
    s = Settings.from_env(
        {
            "ALERT_WEBHOOK_URL": dead,
            "ALERT_SLACK_WEBHOOK_URL": dead,
            "ALERT_EMAIL_TO": "a@example.com",
            "AIRFLOW__SMTP__SMTP_HOST": "127.0.0.1",
            "AIRFLOW__SMTP__SMTP_PORT": str(_free_port()),
            "ALERT_TIMEOUT_SECONDS": "1",
        }
    )
    key = f"test:down:{datetime.now(UTC).timestamp()}"
    alert = Alert(kind="task_failed", alert_key=key, title="t", message="m", first_check="look")
    with caplog.at_level("ERROR", logger="analytics.monitor.alerts"):
        result = deliver(alert, s, settings.database_url, datetime.now(UTC))
    assert {k: v.split(":")[0] for k, v in result.items()} == {
        "webhook": "failed",
        "slack": "failed",
        "email": "failed",
        "table": "recorded",
    }
    assert any(key in r.getMessage() for r in caplog.records)
    assert db.execute("SELECT count(*) FROM analytics.alerts WHERE alert_key = %s", (key,)).fetchone() == (1,)


FLAKY_DAG = textwrap.dedent(
    '''
    """Test DAG: one task that fails while ALERTS_TEST_FAIL is set."""
    import os
    from datetime import datetime

    from airflow.sdk import dag, task

    from analytics.dag_defaults import default_args


    @dag(
        dag_id="alerts_test_flaky",
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        tags=["test"],
        default_args=default_args(retries=0),
    )
    def alerts_test_flaky():
        @task
        def wobble():
            if os.environ.get("ALERTS_TEST_FAIL"):
                raise RuntimeError("upstream store refused the batch")

        wobble()


    alerts_test_flaky()
    '''
)


def test_task_failure_alert_resolves_when_the_next_run_succeeds(
    tmp_path, airflow_db, settings, db, http_receiver, monkeypatch
):
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    from analytics.monitor.dashboard import alerts_section

    base, posts = http_receiver
    monkeypatch.setenv("ALERT_WEBHOOK_URL", f"{base}/hook")
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.test/")
    (tmp_path / "flaky_dag.py").write_text(FLAKY_DAG)
    bag = DagBag(dag_folder=str(tmp_path))
    DagBundlesManager().sync_bundles_to_db()
    sync_bag_to_db(bag, "dags-folder", None)
    dag = bag.get_dag("alerts_test_flaky")

    def firing() -> int:
        return alerts_section(db, settings, datetime.now(UTC))["firing"]

    db.execute("UPDATE analytics.alerts SET state = 'resolved' WHERE dag_id = 'alerts_test_flaky'")
    before = firing()
    monkeypatch.setenv("ALERTS_TEST_FAIL", "1")
    failed = dag.test()
    assert failed.state == "failed"
    assert [b["state"] for _, b in posts] == ["firing"]
    assert firing() == before + 1

    monkeypatch.delenv("ALERTS_TEST_FAIL")
    # A run due earlier (say, a backfill of an older interval) succeeding says nothing about the failed one.
    assert dag.test(run_after=datetime.now(UTC) - timedelta(days=1), logical_date=None).state == "success"
    assert [b["state"] for _, b in posts] == ["firing"] and firing() == before + 1
    ok = dag.test()
    assert ok.state == "success"
    assert [b["state"] for _, b in posts] == ["firing", "resolved"]
    resolved = posts[1][1]
    assert resolved["title"] == f"Resolved: {posts[0][1]['title']}"
    assert (resolved["dag_id"], resolved["task_id"], resolved["run_id"]) == ("alerts_test_flaky", "wobble", ok.run_id)
    assert resolved["log_url"].startswith("https://airflow.example.test/dags/alerts_test_flaky/runs/")
    assert failed.run_id in resolved["message"] and ok.run_id in resolved["text"]
    row = db.execute(
        "SELECT state, resolved_at IS NOT NULL, channels FROM analytics.alerts WHERE dag_id = 'alerts_test_flaky' "
        "AND run_id = %s",
        (failed.run_id,),
    ).fetchone()
    assert row[:2] == ("resolved", True) and row[2]["webhook"] == "sent"
    assert firing() == before  # the badge counts only what is still open

    assert dag.test().state == "success"
    assert len(posts) == 2  # nothing open any more: a further success announces nothing
