"""The dead-man switch: events_monitor GETs ANALYTICS_HEARTBEAT_URL once per pass whose checks all ran and never when
one could not run; a heartbeat service that errs or hangs neither fails nor hides the pass, and its token stays out
of the result and the log. A local HTTP server stands in for the service; PostgreSQL and Redis are real, each test on
a database of its own."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis

from analytics.monitor.alerts.dispatch import deliver
from analytics.monitor.alerts.model import Alert
from analytics.monitor.job import monitor
from tests.monitor.test_alert_delivery import _Quiet, _serving
from tests.monitor.test_count_check import own_db  # noqa: F401 - the fixture

TOKEN = "hb-secret-5f2a9c"


def _service(hits: list[str], status: int = 200):
    class Handler(_Quiet):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            self.send_response(status)
            self.end_headers()

    return Handler


def _recorded(conn, run_id: str) -> dict:
    return conn.execute(
        "SELECT stats FROM analytics.job_runs WHERE job = 'monitor' AND run_id = %s", (run_id,)
    ).fetchone()[0]


def test_each_pass_whose_checks_all_ran_pings_once_and_records_it(own_db, redis_client):  # noqa: F811
    base_settings, conn, _ = own_db
    hits: list[str] = []
    with _serving(_service(hits)) as base:
        s = base_settings.with_overrides(heartbeat_url=f"{base}/ping/{TOKEN}")
        now = datetime.now(UTC)
        for n in range(2):
            out = monitor(s.database_url, redis_client, s, now + timedelta(minutes=5 * n), run_id=f"hb-sent-{n}")
            assert out["heartbeat"] == "sent"
            assert hits == [f"/ping/{TOKEN}"] * (n + 1)
            assert _recorded(conn, f"hb-sent-{n}")["heartbeat"] == "sent"
        # Unset: no ping, and the pass says so.
        off = monitor(s.database_url, redis_client, base_settings, now, run_id="hb-off")
        assert off["heartbeat"] == "off" and len(hits) == 2


def test_no_ping_while_a_check_cannot_run(own_db, redis_client):  # noqa: F811
    """Redis down blinds most checks; a table gone from under one check blinds only that one. Either way the service
    hears nothing (it pages after its grace period) and the pass names the blind checks; once all run, it pings."""
    base_settings, conn, _ = own_db
    hits: list[str] = []
    with _serving(_service(hits)) as base:
        s = base_settings.with_overrides(heartbeat_url=f"{base}/ping/{TOKEN}")
        now = datetime.now(UTC)
        dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
        down = monitor(s.database_url, dead, s, now, run_id="hb-redis-down")
        assert down["heartbeat"].startswith("skipped: checks failed: collector, stream")
        assert _recorded(conn, "hb-redis-down")["heartbeat"] == down["heartbeat"]

        conn.execute("ALTER TABLE analytics.stream_marks RENAME TO stream_marks_away")
        blind = monitor(s.database_url, redis_client, s, now, run_id="hb-one-blind")
        assert blind["heartbeat"] == "skipped: checks failed: stream_history"
        assert hits == []

        conn.execute("ALTER TABLE analytics.stream_marks_away RENAME TO stream_marks")
        assert monitor(s.database_url, redis_client, s, now)["heartbeat"] == "sent"
        assert len(hits) == 1


@pytest.mark.parametrize("answer", ["500", "silent", "trickle"])
def test_a_failing_heartbeat_service_leaves_the_pass_recorded_and_its_token_unlogged(
    own_db,  # noqa: F811
    redis_client,
    caplog,
    answer,
):
    """500, no answer at all, or an answer a byte at a time (no socket timeout trips): the pass completes, its row
    and result say `failed: …` within ALERT_TIMEOUT_SECONDS, and neither they nor the log hold the URL's token."""
    base_settings, conn, _ = own_db
    hits: list[str] = []
    stop = threading.Event()

    class Handler(_Quiet):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            if answer == "500":
                self.send_response(500)
                self.end_headers()
            elif answer == "silent":
                stop.wait(30)
            else:
                for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok":
                    if stop.wait(0.3):
                        return
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()

    caplog.set_level(logging.WARNING)
    with _serving(Handler, before_shutdown=stop.set) as base:
        s = base_settings.with_overrides(heartbeat_url=f"{base}/ping/{TOKEN}?k={TOKEN}", alert_timeout_seconds=1)
        run_id = f"hb-{answer}-{uuid.uuid4().hex[:6]}"
        out = monitor(s.database_url, redis_client, s, datetime.now(UTC), run_id=run_id)
        assert len(hits) == 1
    expected = {
        "500": ("failed: HTTPError: HTTP Error 500",),
        "silent": ("failed: TimeoutError: timed out", "failed: no answer within 1s"),
        "trickle": ("failed: no answer within 1s",),
    }[answer]
    assert out["heartbeat"].startswith(expected), out["heartbeat"]
    assert _recorded(conn, run_id)["heartbeat"] == out["heartbeat"]
    assert TOKEN not in json.dumps(out, default=str) and TOKEN not in caplog.text
    warned = [r.getMessage() for r in caplog.records if r.name == "analytics.monitor.heartbeat"]
    assert warned == [f"heartbeat to {base} {out['heartbeat']}"]


def test_the_monitor_dag_pings_and_records_it(own_db, dagbag, monkeypatch):  # noqa: F811
    _, conn, _ = own_db
    hits: list[str] = []
    with _serving(_service(hits)) as base:
        monkeypatch.setenv("ANALYTICS_HEARTBEAT_URL", f"{base}/ping/{TOKEN}")
        run = dagbag.get_dag("events_monitor").test()
    assert run.state == "success"
    assert hits == [f"/ping/{TOKEN}"]
    assert _recorded(conn, run.run_id)["heartbeat"] == "sent"


def test_no_ping_while_a_firing_alert_reached_no_channel(own_db, redis_client):  # noqa: F811
    """Every channel refused an alert: the monitor sees, but nobody was told, so the heartbeat service must page. The
    pass names the alert; once a redelivery gets through, the pings resume."""
    base_settings, conn, _ = own_db
    pings: list[str] = []
    hook = {"status": 503}

    class Handler(_Quiet):
        def do_GET(self):  # noqa: N802
            pings.append(self.path)
            self.send_response(200)
            self.end_headers()

        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(hook["status"])
            self.end_headers()

    with _serving(Handler) as base:
        s = base_settings.with_overrides(heartbeat_url=f"{base}/ping/{TOKEN}", alert_webhook_url=f"{base}/hook")
        now = datetime.now(UTC)
        key = f"task_failed:hb-{uuid.uuid4().hex[:6]}"
        alert = Alert(kind="task_failed", alert_key=key, title="events_load failed", message="boom")
        assert deliver(alert, s, s.database_url, now)["webhook"].startswith("failed")

        unheard = monitor(s.database_url, redis_client, s, now, run_id="hb-unheard")
        # (This machine's Redis is not durable: that alert fires too, and the dead webhook refuses it as well.)
        assert unheard["heartbeat"].startswith(f"skipped: alerts no channel took: {key}") and pings == []
        assert _recorded(conn, "hb-unheard")["heartbeat"] == unheard["heartbeat"]

        hook["status"] = 200  # the webhook is back: the next pass re-sends the alert, then pings
        heard = monitor(s.database_url, redis_client, s, now + timedelta(minutes=5), run_id="hb-heard")
        assert key in heard["alerts"]["redelivered"]
        assert heard["heartbeat"] == "sent" and pings == [f"/ping/{TOKEN}"]
