"""Redis losing accepted events is an alert, not silence: a Redis restarted without its AOF drops the stream with
the events not yet loaded, and the monitor's next pass pages on-call with what was waiting (monitor.stream_lost),
whether the new stream is still shorter than the old one (entries-added went back) or has already grown past it
(the marker key is gone). A Redis that restarts from its AOF, and a loader that trims what it stored, lose nothing
and raise nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis

from analytics.config import Settings
from analytics.load.job import run_load
from analytics.load.tasks import loader_config
from analytics.monitor.job import monitor
from tests.helpers.redis_server import RedisServer
from tests.monitor.test_monitor import _hooks

KIND = "monitor.stream_lost"


@pytest.fixture(autouse=True)
def _fresh_alerts(db):
    """analytics.alerts is shared by the session: start from no open monitor alert."""
    db.execute("UPDATE analytics.alerts SET state = 'resolved' WHERE state = 'firing' AND kind LIKE 'monitor.%'")


@pytest.fixture(params=[False, True], ids=["no_aof", "aof"])
def stack(request, settings, http_receiver, monkeypatch):  # noqa: F811
    """The collector and the stores' settings on a Redis of the test's own, with or without its AOF."""
    from ingest_api import create_app

    server = RedisServer(aof=request.param).start()
    base, posts = http_receiver
    monkeypatch.setenv("ALERT_WEBHOOK_URL", f"{base}/hook")
    monkeypatch.setenv("REDIS_URL", server.url)
    s = Settings.from_env()
    client = redis.Redis.from_url(server.url)
    try:
        yield s, create_app(s).test_client(), client, server, posts
    finally:
        client.close()
        server.cleanup()


def _post(collector, start: int, n: int) -> None:
    events = [
        {"eventType": "cta_clicked", "source": "web", "sessionId": f"s-lost-{i}", "props": {"ctaId": f"c{i}"}}
        for i in range(start, start + n)
    ]
    resp = collector.post("/v1/track/batch", json={"events": events})
    assert [r["status"] for r in resp.get_json()["results"]] == ["accepted"] * n


@pytest.mark.parametrize("after", [5, 40], ids=["shorter", "grown_past"])
def test_a_redis_that_loses_the_stream_pages_with_what_was_waiting(stack, db, after):
    s, collector, client, server, posts = stack
    _post(collector, 0, 20)
    assert run_load(s.database_url, client, loader_config(s)).inserted == 20  # stored, then trimmed
    _post(collector, 20, 15)  # accepted, not loaded yet
    refused = collector.post("/v1/track", json={"eventType": "no_such_type", "source": "web"})
    assert refused.status_code == 422  # kept with its reason in the rejected stream, not copied yet
    now = datetime.now(UTC)
    first = monitor(s.database_url, client, s, now)
    assert first["figures"]["stream"]["entriesAdded"] == 35
    assert KIND not in str(first["alerts"])

    server.stop()
    server.start()
    for start in range(35, 35 + after, 5):  # the collector goes on, into a new stream if Redis came back empty
        _post(collector, start, 5)
    second = monitor(s.database_url, client, s, now + timedelta(minutes=5))
    losses, rejections_lost = (
        db.execute(
            "SELECT marker_lost, entries_added_before, entries_added_after, undelivered_before, pending_before "
            "FROM analytics.stream_losses WHERE stream = %s",
            (stream,),
        ).fetchall()
        for stream in (s.stream_key, f"{s.key_prefix}:rejected")
    )
    if server.aof:
        assert second["figures"]["stream"]["entriesAdded"] == 35 + after  # the AOF kept all 35
        assert losses == rejections_lost == [] and second["alerts"]["fired"] == [] and _hooks(posts, KIND) == []
        return

    assert second["figures"]["stream"]["entriesAdded"] == after
    assert losses == [(True, 35, after, 15, 0)]
    assert rejections_lost == [(True, 1, 0, 1, 0)]  # its one kept rejection: a line of the same page
    assert second["alerts"]["fired"] == [KIND]
    (page,) = _hooks(posts, KIND)
    assert page["title"] == f"Redis lost accepted events of stream {s.stream_key} (15 waiting at the pass before)"
    assert "it had 35 entries added" in page["message"] and f", {after} (newest id" in page["message"]
    assert "15 were waiting at that pass (15 not yet read by events_load, 0 read" in page["message"]
    assert f"Its kept rejections ({s.key_prefix}:rejected) too: 1 waiting at that pass" in page["message"]

    # A loss is an event, not a state: the next passes keep it open (no second page within the cooldown)...
    third = monitor(s.database_url, client, s, now + timedelta(minutes=10))
    assert KIND in third["alerts"]["suppressed"] and KIND not in third["alerts"]["resolved"]
    assert (
        db.execute("SELECT count(*) FROM analytics.stream_losses WHERE stream = %s", (s.stream_key,)).fetchone()[0] == 1
    )
    # ...until the window (ANALYTICS_MONITOR_STREAM_LOSS_HOURS) has passed.
    later = monitor(s.database_url, client, s, now + timedelta(hours=s.monitor_stream_loss_hours, minutes=6))
    assert KIND in later["alerts"]["resolved"]
    assert [p["title"] for p in _hooks(posts, KIND)][-1].startswith("Resolved: ")
