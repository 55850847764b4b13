"""The Python client library: helpers against the collector, batching, retries, bounded queue, shutdown."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from analytics.collect.copyrow import entry_record
from analytics.collect.registry import EVENT_TYPES
from analytics.load.job import run_load
from analytics.load.tasks import loader_config
from analytics_pipeline_client import (
    AssetEventHelpers,
    Client,
    DeliveryError,
    EngagementEventHelpers,
    EventRejected,
    LicenseEventHelpers,
    PaymentEventHelpers,
    ProjectEventHelpers,
    UserEventHelpers,
    build_event,
)
from tests.helpers.live_collector import live_collector


def _every_helper_event() -> list[dict]:
    assets, licenses = AssetEventHelpers(source="api"), LicenseEventHelpers(source="api")
    projects, payments = ProjectEventHelpers(source="api"), PaymentEventHelpers(source="api")
    users, engagement = UserEventHelpers(source="web"), EngagementEventHelpers(source="web")
    return [
        assets.upload(
            "usr_001", "ast_001", media_type="image", size_bytes=2048, file_name="a.png", project_id="prj_001"
        ),
        assets.view("usr_002", "ast_002", view_duration_ms=1500, position=3, session_id="s-1"),
        assets.download("usr_003", "ast_003", format="png", resolution="4k", license_id="lic_001"),
        assets.approve("usr_004", "ast_004", reviewer_id="usr_004", note="ok"),
        licenses.create("usr_005", "lic_002", license_type="extended", price_cents=4900, asset_id="ast_005"),
        licenses.sign("usr_006", "lic_003", signer_id="usr_006", signature_method="esign"),
        licenses.view("usr_007", "lic_004", view_duration_ms=300),
        projects.create("usr_008", "prj_002", name="Launch", template="blank"),
        projects.complete("usr_009", "prj_003", asset_count=12, duration_days=3.5),
        payments.payout_completed("usr_010", "pay_001", amount_cents=12_000, method="stripe"),
        payments.payout_failed(
            "usr_011", "pay_002", amount_cents=500, failure_reason="account closed", retryable=False
        ),
        users.login("usr_012", method="sso", mfa=True, attribution={"utmSource": "mail"}),
        users.profile_update("usr_013", fields=["displayName", "avatar"]),
        engagement.search("usr_014", "sunset", results_count=42, filters={"mediaType": "image"}),
        engagement.cta_click("usr_015", "upgrade", label="Upgrade", location="header", entity=("project", "prj_004")),
        engagement.page_view("usr_016", "/pricing", title="Pricing", url="https://example.com/pricing"),
    ]


def _keys(events: list[dict]) -> list[str]:
    return [e["idempotencyKey"] for e in events]


def _load(settings, redis_client) -> None:
    run_load(settings.database_url, redis_client, loader_config(settings, time_budget_s=5.0, block_ms=50))


def _stored(db, keys: list[str]) -> int:
    return db.execute(
        "SELECT count(*) FROM analytics.events WHERE source = 'api' AND idempotency_key = ANY(%s)", (keys,)
    ).fetchone()[0]


def _wait(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_every_helper_builds_an_event_the_collector_accepts(client):
    events = _every_helper_event()
    assert {e["eventType"] for e in events} == set(EVENT_TYPES)
    resp = client.post("/v1/track/batch", json={"events": events})
    assert resp.status_code == 200
    assert [r["status"] for r in resp.get_json()["results"]] == ["accepted"] * len(events), resp.get_json()


def test_helpers_refuse_what_the_collector_would_refuse():
    with pytest.raises(EventRejected, match="licenseType"):
        LicenseEventHelpers().create("usr_001", "lic_001", license_type="free", price_cents=100)
    with pytest.raises(EventRejected, match="currency"):
        PaymentEventHelpers().payout_completed("usr_001", "pay_001", amount_cents=1, currency="dollars")
    with pytest.raises(EventRejected, match="entityType"):
        EngagementEventHelpers().search("usr_001", "x", entity=("payout", "pay_001"))
    with pytest.raises(EventRejected, match="bogus"):
        Client("http://127.0.0.1:9", sync_mode=True).track({"eventType": "asset_viewed", "source": "api", "bogus": 1})


def test_sources_the_collector_adds_are_sources_the_client_accepts(monkeypatch):
    """ANALYTICS_EXTRA_SOURCES (the collector's setting, read from the client's environment too) or the client's
    own extra_sources: an added source passes the client's check, an unknown one is still refused there."""
    with pytest.raises(EventRejected, match="kiosk"):
        UserEventHelpers(source="kiosk").login("usr_001", method="sso")
    login = {"eventType": "user_login", "actorId": "usr_001", "props": {"method": "sso"}}
    assert build_event(
        "user_login", source="kiosk", actor_id="usr_001", props={"method": "sso"}, extra_sources=["kiosk"]
    )
    sender = Client("http://127.0.0.1:9", sync_mode=True, extra_sources=["kiosk"], max_retries=0, handle_sigterm=False)
    with pytest.raises(EventRejected, match="carrier_pigeon"):  # refused before anything is sent
        sender.track({**login, "source": "carrier_pigeon"})
    with pytest.raises(DeliveryError):  # accepted by the check, so it is sent (and port 9 refuses it)
        sender.track({**login, "source": "kiosk"})
    monkeypatch.setenv("ANALYTICS_EXTRA_SOURCES", "tv, kiosk2")
    assert UserEventHelpers(source="kiosk2").login("usr_001", method="sso")["source"] == "kiosk2"


def test_flushes_at_n_events_and_after_t_seconds(settings):
    with live_collector(settings) as (url, gate):
        by_count = Client(url, flush_at=5, flush_interval=60, handle_sigterm=False)
        for i in range(5):
            by_count.assets.view("usr_001", f"ast_{i + 1:03d}", source="api")
        assert _wait(lambda: gate.events_per_request() == [5]), gate.events_per_request()
        by_count.shutdown()

        by_time = Client(url, flush_at=100, flush_interval=0.3, handle_sigterm=False)
        queued = time.monotonic()
        by_time.assets.view("usr_002", "ast_010", source="api")
        by_time.assets.view("usr_002", "ast_011", source="api")
        assert _wait(lambda: gate.events_per_request() == [5, 2]), gate.events_per_request()
        # Sent by the interval, not before it (a lower bound: however busy the machine, it cannot flake).
        assert gate.requests[-1]["at"] - queued >= 0.3
        assert by_time.flush(timeout=5) and by_time.stats.accepted == 2
        by_time.shutdown()


def test_retries_a_failing_collector_and_stores_each_event_once(settings, redis_client, db):
    assets = AssetEventHelpers(source="api")
    with live_collector(settings) as (url, gate):
        gate.fail_next = 2  # two 503s, then an answer lost after the events were stored
        gate.lose_next = 1
        c = Client(url, flush_at=100, backoff_base=0.01, handle_sigterm=False)
        keys = [c.track(assets.view("usr_003", f"ast_{i:03d}", session_id=f"r-{i}")) for i in range(1, 8)]
        assert c.flush(timeout=10)
        assert gate.events_per_request() == [7, 7, 7, 7]
        sent = [[e["idempotencyKey"] for e in r["body"]["events"]] for r in gate.requests]
        assert all(k == keys for k in sent)  # the same key on every attempt
        assert c.stats.retries == 3
        assert (c.stats.accepted, c.stats.duplicate, c.stats.failed) == (0, 7, 0)
        c.shutdown()
    assert len(redis_client.xrange(settings.stream_key)) == 7
    _load(settings, redis_client)
    assert _stored(db, keys) == 7


def test_bounded_queue_counts_what_it_drops(settings):
    with live_collector(settings) as (url, gate):
        gate.hold = threading.Event()
        c = Client(url, flush_at=1, max_queue_size=3, handle_sigterm=False)
        c.assets.view("usr_004", "ast_020", source="api")
        assert gate.entered.wait(5)  # the sender is now busy with event 1
        results = [c.track(_raw(i)) for i in range(5)]
        assert results.count(None) == 2
        assert c.stats.dropped == 2 and c.queue_size == 3
        gate.hold.set()
        assert c.flush(timeout=10)
        assert c.stats.accepted == 4
        c.shutdown()


def _raw(i: int) -> dict:
    return {
        "eventType": "asset_viewed",
        "source": "api",
        "actorId": "usr_005",
        "entityId": f"ast_{30 + i:03d}",
        "entityType": "asset",
    }


def test_permanent_4xx_is_not_retried_and_reaches_on_error(settings):
    errors = []
    with live_collector(settings) as (url, gate):
        gate.status_once = 400
        c = Client(url, on_error=lambda reason, events, detail: errors.append((reason, len(events))))
        c.track(_raw(1))
        assert c.flush(timeout=5)
        assert len(gate.requests) == 1 and c.stats.retries == 0
        assert c.stats.failed == 1 and errors == [("injected", 1)]
        c.shutdown()


def test_sync_mode_delivers_before_returning(settings, redis_client):
    with live_collector(settings) as (url, gate):
        c = Client(url, sync_mode=True, backoff_base=0.01, max_retries=1)
        key = c.track(_raw(2))
        (entry,) = redis_client.xrange(settings.stream_key)
        assert entry_record(entry[1])["idempotency_key"] == key
        gate.fail_next = 5
        with pytest.raises(DeliveryError, match="retries_exhausted"):
            c.track(_raw(3))
        gate.fail_next = 0
        # Age limits are the collector's to judge (a backfill source may send old events); a datetime is fine.
        old = datetime.now(UTC) - timedelta(days=30)
        c.track({**_raw(7), "source": "backfill", "occurredAt": old})
        with pytest.raises(DeliveryError, match="rejected"):
            c.track({**_raw(8), "occurredAt": old})
        assert redis_client.xlen(settings.stream_key) == 2


@pytest.mark.parametrize("ending", ["exit", "sigterm"])
def test_queued_events_are_flushed_on_exit_and_sigterm(settings, redis_client, ending):
    script = textwrap.dedent(
        f"""
        import os, signal, sys, time
        import analytics_pipeline_client
        assert not {{"flask", "airflow", "redis", "psycopg"}} & set(sys.modules), "client pulled in server deps"
        c = analytics_pipeline_client.Client(sys.argv[1], flush_at=100, flush_interval=60)
        for i in range(3):
            c.assets.view("usr_006", "ast_04%d" % i, source="api")
        assert c.stats.requests == 0
        if {ending == "sigterm"}:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)
        """
    )
    with live_collector(settings) as (url, gate):
        proc = subprocess.run(
            [sys.executable, "-c", script, url], capture_output=True, text=True, timeout=60, env=os.environ.copy()
        )
        assert proc.returncode == (-15 if ending == "sigterm" else 0), proc.stderr
        assert gate.events_per_request() == [3]
    assert len(redis_client.xrange(settings.stream_key)) == 3


def test_a_forked_child_gets_its_own_sender(settings, redis_client):
    script = textwrap.dedent(
        """
        import os, sys
        import analytics_pipeline_client
        c = analytics_pipeline_client.Client(sys.argv[1], flush_at=100, flush_interval=60, handle_sigterm=False)
        c.assets.view("usr_007", "ast_060", source="api")
        pid = os.fork()
        if pid == 0:
            c.assets.view("usr_007", "ast_061", source="api")
            c.assets.view("usr_007", "ast_062", source="api")
            sys.exit(0)  # atexit flushes the child's own queue
        _, status = os.waitpid(pid, 0)
        assert status == 0, status
        """
    )
    with live_collector(settings) as (url, gate):
        proc = subprocess.run([sys.executable, "-c", script, url], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert sorted(gate.events_per_request()) == [1, 2]
    assert len(redis_client.xrange(settings.stream_key)) == 3


def test_429_is_retried_after_the_servers_retry_after(settings):
    with live_collector(settings) as (url, gate):
        gate.status_once, gate.retry_after = 429, "1"
        c = Client(url, backoff_base=0.01, handle_sigterm=False)
        c.track(_raw(4))
        assert c.flush(timeout=10)
        assert len(gate.requests) == 2 and c.stats.retries == 1 and c.stats.accepted == 1
        first, retry = gate.requests
        assert retry["at"] - first["at"] >= 1.0  # waited as told, not the 10 ms backoff (a lower bound)
        c.shutdown()


def test_write_key_is_sent_and_a_wrong_one_is_not_retried(settings):
    errors = []
    with live_collector(settings.with_overrides(write_keys=("wk_client",))) as (url, gate):
        good = Client(url, "wk_client", handle_sigterm=False)
        good.track(_raw(5))
        assert good.flush(timeout=5) and good.stats.accepted == 1
        assert gate.requests[0]["headers"]["X-Write-Key"] == "wk_client"
        bad = Client(url, "wk_wrong", handle_sigterm=False, on_error=lambda reason, ev, detail: errors.append(reason))
        bad.track(_raw(6))
        assert bad.flush(timeout=5)
        assert (bad.stats.failed, bad.stats.retries, errors) == (1, 0, ["unauthorized"])
        good.shutdown()
        bad.shutdown()


def test_a_413_splits_the_batch_until_it_fits(settings, redis_client):
    with live_collector(settings.with_overrides(max_batch_events=3)) as (url, gate):
        c = Client(url, handle_sigterm=False)
        for i in range(7):
            c.track(_raw(10 + i))
        assert c.flush(timeout=10)
        assert gate.events_per_request() == [7, 3, 4, 2, 2]
        assert (c.stats.accepted, c.stats.failed) == (7, 0)
        c.shutdown()
    assert redis_client.xlen(settings.stream_key) == 7
