"""events_monitor against real Redis and PostgreSQL: one alert per condition, cooldown, resolved message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analytics.config import Settings
from analytics.monitor.job import monitor


@pytest.fixture
def mon_settings(settings, http_receiver, monkeypatch):  # noqa: F811
    base, posts = http_receiver
    monkeypatch.setenv("ALERT_WEBHOOK_URL", f"{base}/hook")
    monkeypatch.setenv("ALERT_COOLDOWN_MINUTES", "60")
    return Settings.from_env(), posts


@pytest.fixture(autouse=True)
def _fresh_alerts(db):
    """analytics.alerts is shared by the session: monitor tests start from no open monitor alert."""
    db.execute("UPDATE analytics.alerts SET state = 'resolved' WHERE state = 'firing' AND kind LIKE 'monitor.%'")


def _event(i: int, source: str = "web") -> dict:
    return {
        "eventType": "asset_viewed",
        "source": source,
        "actorId": "usr_004",
        "entityId": "ast_005",
        "entityType": "asset",
        "sessionId": f"s-mon-{i}",
        "props": {"viewDurationMs": 100 + i},
    }


def _hooks(posts, kind):
    return [b for p, b in posts if p == "/hook" and b["kind"] == kind]


def test_dedup_rate_alerts_once_then_resolves(client, mon_settings, redis_client, db):
    s, posts = mon_settings
    events = [_event(i) for i in range(20)]
    assert client.post("/v1/track/batch", json={"events": events}).status_code in (200, 202, 207)
    # 6 of them again within 60 s: fingerprint duplicates, 6/26 = 23 % > 10 %.
    again = client.post("/v1/track/batch", json={"events": events[:6]})
    assert again.status_code in (200, 202, 207)

    now = datetime.now(UTC)
    first = monitor(s.database_url, redis_client, s, now)
    assert first["figures"]["collector"]["duplicatesFound"] == 6
    key = "monitor.collector_dedup_rate:web"
    assert key in first["alerts"]["fired"]
    second = monitor(s.database_url, redis_client, s, now + timedelta(minutes=5))
    assert key not in second["alerts"]["fired"] and key in second["alerts"]["suppressed"]

    sent = _hooks(posts, "monitor.collector_dedup_rate")
    assert len(sent) == 1  # one page, not one per run
    alert = sent[0]
    assert alert["state"] == "firing" and "'web'" in alert["title"] and "23.1%" in alert["title"]
    assert "fingerprint 6" in alert["message"] and "asset_viewed" in alert["message"]
    assert alert["details"]["byReason"] == {"fingerprint": 6}

    # Counters age out of the window: the condition has cleared.
    later = monitor(s.database_url, redis_client, s, now + timedelta(minutes=40))
    assert key in later["alerts"]["resolved"]
    sent = _hooks(posts, "monitor.collector_dedup_rate")
    assert [a["state"] for a in sent] == ["firing", "resolved"]
    assert sent[1]["title"].startswith("Resolved: Collector deduplication rate")
    rows = db.execute(
        "SELECT state, resolved_at IS NOT NULL, send_count FROM analytics.alerts "
        "WHERE alert_key = 'monitor.collector_dedup_rate:web' ORDER BY id DESC LIMIT 1"
    ).fetchone()
    assert rows == ("resolved", True, 1)


def test_cooldown_reminds_after_it_expires(client, mon_settings, redis_client, db):
    s, posts = mon_settings
    events = [_event(100 + i, source="mobile") for i in range(20)]
    client.post("/v1/track/batch", json={"events": events})
    client.post("/v1/track/batch", json={"events": events[:10]})
    now = datetime.now(UTC)
    log = "https://airflow.example.test/dags/events_monitor/runs/r/tasks/check?try_number=1"
    monitor(s.database_url, redis_client, s, now, run_id="mon-run-1", log_url=log)
    first = _hooks(posts, "monitor.collector_dedup_rate")[0]
    # A monitor alert names the run that saw it and links its log, like a task failure.
    assert (first["dag_id"], first["task_id"], first["run_id"], first["log_url"]) == (
        "events_monitor",
        "check",
        "mon-run-1",
        log,
    )
    assert "Run: events_monitor mon-run-1" in first["text"] and f"Log: {log}" in first["text"]
    # Same counters seen 61 min later (still firing): a reminder, same row.
    s_short = s.with_overrides(monitor_window_minutes=120)
    out = monitor(s.database_url, redis_client, s_short, now + timedelta(minutes=61), run_id="mon-run-2", log_url=log)
    assert "monitor.collector_dedup_rate:mobile" in out["alerts"]["reminded"]
    sent = _hooks(posts, "monitor.collector_dedup_rate")
    assert len(sent) == 2 and "still firing" in sent[1]["title"] and sent[1]["run_id"] == "mon-run-2"
    count, sends, title, message, run_id = db.execute(
        "SELECT count(*) OVER (), send_count, title, message, run_id FROM analytics.alerts "
        "WHERE alert_key = 'monitor.collector_dedup_rate:mobile' AND state = 'firing'"
    ).fetchone()
    assert (count, sends, run_id) == (1, 2, "mon-run-2")
    # The row's title and message are the reminder's, together: they never disagree.
    assert title == sent[1]["title"] and message == sent[1]["text"] and message.splitlines()[0].endswith(title)


def test_stuck_pending_entry_alerts(mon_settings, redis_client, db):
    s, posts = mon_settings
    redis_client.xgroup_create(s.stream_key, s.consumer_group, id="0", mkstream=True)
    entry = redis_client.xadd(s.stream_key, {"id": "x", "payload": "{}"}).decode()
    # A consumer read it and died before acknowledging.
    redis_client.xreadgroup(s.consumer_group, "crashed-worker", {s.stream_key: ">"}, count=1)

    now = datetime.now(UTC)
    fresh = monitor(s.database_url, redis_client, s, now)
    assert "monitor.stuck_pending" not in fresh["alerts"]["fired"]
    # Ten minutes without an acknowledgement: XCLAIM ... IDLE sets the entry's idle time as if they had passed.
    redis_client.xclaim(s.stream_key, s.consumer_group, "crashed-worker", 0, [entry], idle=600_000)
    stuck = monitor(s.database_url, redis_client, s, now)
    assert "monitor.stuck_pending" in stuck["alerts"]["fired"]
    alert = _hooks(posts, "monitor.stuck_pending")[0]
    assert alert["details"]["longestIdleId"] == entry and alert["details"]["stuckPending"] == 1
    assert alert["details"]["consumer"] == "crashed-worker" and alert["details"]["longestIdleSeconds"] >= 600
    assert "XPENDING" in alert["first_check"] and "10 min" in alert["title"]

    redis_client.xack(s.stream_key, s.consumer_group, entry)
    cleared = monitor(s.database_url, redis_client, s, now + timedelta(minutes=5))
    assert "monitor.stuck_pending" in cleared["alerts"]["resolved"]


def test_dead_consumer_pages_past_a_small_idle_threshold(mon_settings, redis_client, db):
    import time

    s, posts = mon_settings
    s = s.with_overrides(monitor_pending_age_max_seconds=1)
    redis_client.xgroup_create(s.stream_key, s.consumer_group, id="0", mkstream=True)
    entry = redis_client.xadd(s.stream_key, {"id": "x", "payload": "{}"}).decode()
    redis_client.xreadgroup(s.consumer_group, "dead-worker", {s.stream_key: ">"}, count=1)
    # Idle past the 1 s threshold: read the idle time Redis reports rather than trusting the sleep.
    while redis_client.xpending_range(s.stream_key, s.consumer_group, "-", "+", 1)[0]["time_since_delivered"] < 1100:
        time.sleep(0.2)
    out = monitor(s.database_url, redis_client, s, datetime.now(UTC))
    assert "monitor.stuck_pending" in out["alerts"]["fired"]
    assert _hooks(posts, "monitor.stuck_pending")[0]["details"]["longestIdleId"] == entry


def test_old_backlog_drained_by_a_healthy_loader_pages_nothing(mon_settings, redis_client, db):
    s, posts = mon_settings
    # An outage's backlog: entries added 20 min ago, far past the 5 min threshold.
    old_ms = int(datetime.now(UTC).timestamp() * 1000) - 20 * 60 * 1000
    ids = [redis_client.xadd(s.stream_key, {"id": f"o{i}"}, id=f"{old_ms}-{i}").decode() for i in range(6)]
    redis_client.xgroup_create(s.stream_key, s.consumer_group, id="0")
    now = datetime.now(UTC)
    for batch in (ids[:3], ids[3:]):
        # The loader holds a batch (delivered a moment ago) while the monitor looks, then acknowledges it.
        redis_client.xreadgroup(s.consumer_group, "events_load", {s.stream_key: ">"}, count=len(batch))
        out = monitor(s.database_url, redis_client, s, now)
        assert out["figures"]["stream"]["oldestPendingAgeSeconds"] > 19 * 60
        assert out["figures"]["stream"]["pending"] == 3 and out["figures"]["stream"]["stuckPending"] == 0
        assert "monitor.stuck_pending" not in out["alerts"]["fired"]
        redis_client.xack(s.stream_key, s.consumer_group, *batch)
    assert _hooks(posts, "monitor.stuck_pending") == []


def test_redis_down_alerts_and_keeps_open_alerts(mon_settings, db):
    import redis

    s, posts = mon_settings
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    out = monitor(s.database_url, dead, s, datetime.now(UTC))
    assert set(out["alerts"]["fired"]) >= {"monitor.check_failed.collector", "monitor.check_failed.stream"}
    # The stream history has no figures to compare then: it waits (its alerts stay as they were), no second page.
    assert "monitor.check_failed.stream_history" not in out["alerts"]["fired"]
    assert "error" in out["figures"]["collector"]


def test_monitor_dag_runs_and_records(dagbag, settings, db):
    dag = dagbag.get_dag("events_monitor")
    run = dag.test()
    assert run.state == "success"
    stats = db.execute(
        "SELECT stats FROM analytics.job_runs WHERE job = 'monitor' AND run_id = %s", (run.run_id,)
    ).fetchone()[0]
    assert set(stats["figures"]) >= {
        "collector",
        "stream",
        "load",
        "nightly",
        "enrich",
        "redisDurability",
        "streamLosses",
    }


def test_nightly_rate_and_stale_load_alert(mon_settings, redis_client, db):
    import uuid

    from analytics.dedup.job import deduplicate

    s, posts = mon_settings
    # Years no other test writes to (test_dedup uses 2031-2039): the day holds only these events.
    day = datetime(2045, 3, 1, tzinfo=UTC) + timedelta(days=uuid.uuid4().int % 3000)
    for i in range(12):  # 12 pairs 0.5 s apart: 12 of 24 scanned are marked (50 %)
        t = day + timedelta(minutes=i)
        for dt in (0, 500):
            db.execute(
                """INSERT INTO analytics.events (id, event_type, source, occurred_at, received_at, actor_id,
                                                 session_id, fingerprint)
                   VALUES (%s, 'user_login', 'web', %s, %s, 'usr_007', 's-night', 'fp')""",
                (uuid.uuid4(), t + timedelta(milliseconds=dt), t + timedelta(milliseconds=dt)),
            )
    assert deduplicate(s.database_url, day, day + timedelta(days=1), run_id="mon-nightly").marked == 12
    finished = datetime.now(UTC) - timedelta(minutes=1)
    db.execute(
        "INSERT INTO analytics.load_runs (run_id, started_at, finished_at) VALUES ('mon-load', %s, %s)",
        (finished, finished),
    )

    # Other tests of the session record loads too: measure staleness from the latest one.
    latest = db.execute("SELECT max(finished_at) FROM analytics.load_runs").fetchone()[0]
    out = monitor(s.database_url, redis_client, s, latest + timedelta(minutes=30))
    assert {"monitor.nightly_dedup_rate", "monitor.load_stale"} <= set(out["alerts"]["fired"])
    nightly = _hooks(posts, "monitor.nightly_dedup_rate")[0]
    assert nightly["details"]["runId"] == "mon-nightly" and nightly["details"]["rate"] == 0.5
    stale = _hooks(posts, "monitor.load_stale")[0]
    assert stale["runbook"] == "docs/RUNBOOK.md#load-stale" and "30 min" in stale["title"]
