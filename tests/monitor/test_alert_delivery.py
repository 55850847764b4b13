"""Alert delivery and wording: channels tried at once within one overall bound, analytics.alerts given up on within
seconds, Slack text escaped, secrets kept out of reprs, the runbook link configurable, and errors and first checks
that say what they mean. Local servers stand in for the channels; PostgreSQL is real."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.monitor.test_count_check import own_db  # noqa: F401 - the fixture


class _Quiet(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextmanager
def _serving(handler_cls, before_shutdown=lambda: None):
    """A local HTTP server standing in for the channels: its base URL, shut down after."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_cls)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        before_shutdown()
        server.shutdown()
        server.server_close()


def _alert(**kw):
    from analytics.monitor.alerts.model import Alert

    fields = {"kind": "task_failed", "alert_key": f"test:{time.time_ns()}", "title": "t", "message": "m"}
    return Alert(**(fields | kw))


def test_channels_are_tried_at_once_not_one_after_another():
    """The webhook answers only once Slack has been posted to: one after another, Slack would wait for it."""
    from analytics.config import Settings
    from analytics.monitor.alerts.dispatch import send

    slack_seen = threading.Event()
    hook_saw_slack: list[bool] = []

    class Handler(_Quiet):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/slack":
                slack_seen.set()
            else:
                hook_saw_slack.append(slack_seen.wait(8))
            self.send_response(200)
            self.end_headers()

    with _serving(Handler) as base:
        s = Settings.from_env(
            {
                "ALERT_WEBHOOK_URL": f"{base}/hook",
                "ALERT_SLACK_WEBHOOK_URL": f"{base}/slack",
                "ALERT_TIMEOUT_SECONDS": "30",
            }
        )
        assert send(_alert(), s) == {"webhook": "sent", "slack": "sent"}
        assert hook_saw_slack == [True]


def test_a_channel_that_never_finishes_answering_is_cut_off_by_the_overall_timeout():
    """A webhook that trickles its answer a byte at a time never trips a socket timeout; the overall bound
    (ALERT_TIMEOUT_SECONDS) reports it failed, and the other channel's answer stands."""
    from analytics.config import Settings
    from analytics.monitor.alerts.dispatch import send

    stop = threading.Event()

    class Handler(_Quiet):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/slack":
                self.send_response(200)
                self.end_headers()
                return
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok":
                if stop.wait(0.3):
                    return
                self.wfile.write(bytes([byte]))
                self.wfile.flush()

    with _serving(Handler, before_shutdown=stop.set) as base:
        s = Settings.from_env(
            {
                "ALERT_WEBHOOK_URL": f"{base}/hook",
                "ALERT_SLACK_WEBHOOK_URL": f"{base}/slack",
                "ALERT_TIMEOUT_SECONDS": "1",
            }
        )
        result = send(_alert(), s)
        assert result["slack"] == "sent"
        assert result["webhook"] == "failed: no answer within 1s"


def test_deliver_gives_up_on_a_postgresql_that_accepts_and_never_answers(http_receiver):
    """A TCP peer that accepts and says nothing (a hung server, a half-open proxy): the alert is sent, and recording
    it fails on the connect timeout instead of hanging the callback until Airflow kills it."""
    from analytics.config import Settings
    from analytics.monitor.alerts.dispatch import deliver

    base, posts = http_receiver
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def hold():  # accept, never answer; after 30 s close (so older code ends, with another error)
        listener.settimeout(0.2)
        deadline = time.monotonic() + 30
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                pass
        for conn in accepted:
            conn.close()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    try:
        s = Settings.from_env({"ALERT_WEBHOOK_URL": f"{base}/hook"})
        dsn = f"postgresql://postgres@127.0.0.1:{listener.getsockname()[1]}/analytics"
        result = deliver(_alert(), s, dsn, datetime.now(UTC))
        assert result["webhook"] == "sent" and len(posts) == 1
        assert result["table"].startswith("failed:") and "timeout expired" in result["table"]
    finally:
        stop.set()
        thread.join()
        listener.close()


def test_slack_text_is_escaped(http_receiver):
    from analytics.config import Settings
    from analytics.monitor.alerts.dispatch import send

    base, posts = http_receiver
    s = Settings.from_env({"ALERT_SLACK_WEBHOOK_URL": f"{base}/slack"})
    alert = _alert(title="load <events> failed", message="Error: a & b <!channel> x > y")
    assert send(alert, s) == {"slack": "sent"}
    text = posts[0][1]["text"]
    assert "load &lt;events&gt; failed" in text and "a &amp; b &lt;!channel&gt; x &gt; y" in text
    assert "<" not in text and ">" not in text


def test_alert_webhook_url_is_kept_out_of_reprs():
    from analytics.config import Settings

    s = Settings.from_env(
        {
            "ALERT_WEBHOOK_URL": "https://hooks.example/T0/secret-token-1",
            "ALERT_SLACK_WEBHOOK_URL": "https://x/secret-2",
            "ANALYTICS_HEARTBEAT_URL": "https://hc.example/ping/secret-3",
        }
    )
    assert s.alert_webhook_url.endswith("secret-token-1") and s.heartbeat_url.endswith("secret-3")
    assert "secret-token-1" not in repr(s) and "secret-2" not in repr(s) and "secret-3" not in repr(s)


def test_runbook_links_follow_analytics_runbook_url(settings, db, http_receiver):
    from analytics.config import Settings
    from analytics.monitor.alerts.dispatch import deliver
    from analytics.monitor.alerts.model import RUNBOOK

    base, posts = http_receiver
    assert Settings.from_env({}).runbook_url == RUNBOOK == "docs/RUNBOOK.md"  # the default: the repo path
    s = Settings.from_env(
        {"ALERT_WEBHOOK_URL": f"{base}/hook", "ANALYTICS_RUNBOOK_URL": "https://wiki.example/RUNBOOK.md"}
    )
    alert = _alert(runbook=f"{RUNBOOK}#stream-lag")
    assert deliver(alert, s, settings.database_url, datetime.now(UTC))["table"] == "recorded"
    body = posts[0][1]
    assert body["runbook"] == "https://wiki.example/RUNBOOK.md#stream-lag"
    assert "Runbook: https://wiki.example/RUNBOOK.md#stream-lag" in body["text"]
    row = db.execute(
        "SELECT details, message FROM analytics.alerts WHERE alert_key = %s", (alert.alert_key,)
    ).fetchone()
    assert row[0]["runbook"] == "https://wiki.example/RUNBOOK.md#stream-lag" and "https://wiki.example/" in row[1]


def test_a_channel_that_was_down_gets_the_alert_at_the_next_monitor_pass(own_db, redis_client):  # noqa: F811
    """The webhook answers 500 when the alert is sent, then comes back: the next events_monitor pass sends it there
    (the same text), not to Slack again, and records it; the pass after sends nothing more."""
    import json

    from analytics.monitor.alerts.dispatch import deliver
    from analytics.monitor.job import monitor

    posts: list[tuple[str, dict]] = []

    class Handler(_Quiet):
        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            first_to_hook = self.path == "/hook" and not any(p == "/hook" for p, _ in posts)
            posts.append((self.path, body))
            self.send_response(500 if first_to_hook else 200)
            self.end_headers()

    with _serving(Handler) as base:
        base_settings, conn, _ = own_db
        s = base_settings.with_overrides(alert_webhook_url=f"{base}/hook", alert_slack_webhook_url=f"{base}/slack")
        alert = _alert(title="events_load.load failed on try 4 of 4", message="Error: the store went away")
        now = datetime.now(UTC)
        sent = deliver(alert, s, s.database_url, now)
        assert (sent["webhook"][:7], sent["slack"], sent["table"]) == ("failed:", "sent", "recorded")

        def mine(path: str) -> list[dict]:
            return [b for p, b in posts if p == path and "try 4 of 4" in (b.get("text") or "")]

        first = monitor(s.database_url, redis_client, s, now)
        assert first["alerts"]["redelivered"] == [alert.alert_key]
        assert len(mine("/hook")) == 2 and len(mine("/slack")) == 1  # the failed try, the redelivery; Slack once
        assert mine("/hook")[1]["text"] == mine("/hook")[0]["text"]  # the same text as first sent
        channels = conn.execute("SELECT channels FROM analytics.alerts WHERE alert_key = %s", (alert.alert_key,))
        assert channels.fetchone()[0] == {"webhook": "sent", "slack": "sent"}

        assert monitor(s.database_url, redis_client, s, now)["alerts"]["redelivered"] == []
        assert len(mine("/hook")) == 2


def test_a_channel_still_down_is_tried_once_per_pass_not_once_per_alert(own_db):  # noqa: F811
    """Three alerts the webhook refused; it is still down at the next pass: one attempt, not three (each could wait
    ALERT_TIMEOUT_SECONDS), and all three stay waiting for it."""
    from analytics.monitor.alerts.dispatch import deliver, redeliver

    hits: list[str] = []

    class Handler(_Quiet):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            hits.append(self.path)
            self.send_response(503)
            self.end_headers()

    with _serving(Handler) as base:
        base_settings, conn, _ = own_db
        s = base_settings.with_overrides(alert_webhook_url=f"{base}/hook", alert_slack_webhook_url=None)
        now = datetime.now(UTC)
        for n in range(3):
            deliver(_alert(alert_key=f"down:{n}"), s, s.database_url, now)
        assert len(hits) == 3
        assert redeliver(conn, s, now) == []
        assert len(hits) == 4
        waiting = conn.execute("SELECT count(*) FROM analytics.alerts WHERE channels->>'webhook' LIKE 'failed%'")
        assert waiting.fetchone()[0] == 3


def test_an_alert_recorded_but_never_sent_is_sent_by_the_next_pass(own_db, http_receiver):  # noqa: F811
    """A failure callback records the row first, then sends; killed in between (Airflow's deadline), the row says no
    channel was tried. Two minutes on, a monitor pass sends it; one only just recorded is left to its callback."""
    from analytics.monitor.alerts.dispatch import insert, redeliver

    base_settings, conn, _ = own_db
    base, posts = http_receiver
    s = base_settings.with_overrides(alert_webhook_url=f"{base}/hook")
    now = datetime.now(UTC)
    old, fresh = _alert(alert_key="never-sent:old"), _alert(alert_key="never-sent:fresh")
    insert(conn, old, {}, now - timedelta(minutes=3))
    insert(conn, fresh, {}, now - timedelta(seconds=20))
    assert redeliver(conn, s, now) == ["never-sent:old"]
    assert [p["alert_key"] for _, p in posts] == ["never-sent:old"]
