"""Dashboard plugin: registered with Airflow, guarded, and its data endpoint shows the seeded numbers (real stores)."""

from __future__ import annotations

import json
import socket
import sys
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from psycopg.conninfo import conninfo_to_dict

from tests.helpers.dashboard_seed import cleanup, seed_dashboard

ADMIN = {"Authorization": "Bearer test-admin-token"}


@pytest.fixture(scope="module")
def plugin_module():
    """The plugin as Airflow's plugin manager loads it from the plugins folder."""
    from airflow import plugins_manager

    plugins_manager.get_fastapi_plugins()
    return sys.modules["analytics_dashboard"]


@pytest.fixture
def seeded(db, redis_client, settings):
    data = seed_dashboard(db, redis_client, settings)
    yield data
    cleanup(db, data)


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _client(plugin_module, settings) -> TestClient:
    return TestClient(plugin_module.create_app(settings))


def test_plugin_registers_app_and_nav_view(plugin_module):
    from airflow import plugins_manager

    apps, _ = plugins_manager.get_fastapi_plugins()
    assert [a["url_prefix"] for a in apps if a["name"] == "Analytics pipeline dashboard"] == ["/analytics-dashboard"]
    views, _ = plugins_manager._get_ui_plugins()
    view = next(v for v in views if v["url_route"] == "analytics-pipeline")
    assert view["href"].endswith("/analytics-dashboard/")
    assert view["destination"] == "nav"


def test_overview_shows_seeded_numbers(plugin_module, settings, seeded):
    resp = _client(plugin_module, settings).get("/api/overview?hours=1", headers=ADMIN)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["viewer"] == "admin-token"

    c = body["collector"]
    assert c["ok"] and c["empty"] is None
    assert (c["lastHour"]["accepted"], c["lastHour"]["duplicatesFound"], c["lastHour"]["rejected"]) == (
        seeded.accepted_last_hour,
        seeded.duplicates_last_hour,
        seeded.rejected_last_hour,
    )
    assert c["lastHour"]["duplicatesByReason"] == {"fingerprint": 9, "idempotency_key": 1}
    assert c["monitorWindow"]["deduplicationRate"] == seeded.monitor_rate
    assert c["dedupThreshold"] == pytest.approx(0.10)
    assert c["dedupAboveThreshold"] is True
    assert len(c["series"]) == 60
    assert sum(p["accepted"] for p in c["series"]) == seeded.accepted_last_hour
    assert sum(p["duplicate"] for p in c["series"]) == seeded.duplicates_last_hour
    assert c["series"][-1]["rejected"] + c["series"][-2]["rejected"] == seeded.rejected_last_hour

    s = body["stream"]
    assert s["ok"] and s["groupExists"]
    assert (s["length"], s["lag"], s["pending"]) == (seeded.stream_length, seeded.lag, seeded.pending)
    assert seeded.oldest_pending_min_age <= s["oldestPendingAgeSeconds"] < seeded.oldest_pending_min_age + 30
    assert 150 <= s["oldestPendingIdleSeconds"] < 180 and s["stuckPending"] == 0  # under the 300 s threshold

    loads = body["loads"]
    assert loads["ok"] and loads["last"]["inserted"] == seeded.last_load_inserted
    assert loads["last"]["duration_ms"] == seeded.last_load_duration_ms
    assert 0 <= loads["sinceLastLoadSeconds"] < 30
    assert [r["inserted"] for r in loads["recent"][:2]] == [1234, 500]
    # What the monitor's count check found over the last day: the seeded hour 3 events short.
    assert (loads["counts"]["missing"], loads["counts"]["hoursMissing"]) == (3, 1)
    assert loads["counts"]["comparedUpTo"] >= seeded.counts_compared_up_to.isoformat().replace("+00:00", "Z")

    e = body["enrichment"]
    assert e["ok"]
    per_hour = {r["hour"]: r["waiting"] for r in e["perHour"]}
    assert per_hour[seeded.backlog_hour] == seeded.backlog_waiting

    n = body["nightlyDedup"]
    assert n["ok"] and n["last"]["job"] == "dedup"
    assert (n["last"]["stats"]["scanned"], n["last"]["stats"]["marked"]) == (
        seeded.nightly_scanned,
        seeded.nightly_marked,
    )
    assert n["rate"] == pytest.approx(0.025)

    a = body["alerts"]
    assert a["ok"] and a["firing"] >= 1
    by_id = {r["id"]: r for r in a["recent"]}
    resolved_id, firing_id = seeded.ids["alerts"]
    assert by_id[firing_id]["state"] == "firing" and by_id[firing_id]["title"] == seeded.firing_alert_title
    assert by_id[firing_id]["logUrl"] == f"/dags/events_monitor/runs/{by_id[firing_id]['run_id']}/tasks/check"
    assert by_id[resolved_id]["state"] == "resolved"
    assert by_id[resolved_id]["logUrl"] == seeded.resolved_alert_log_url


def test_stores_are_the_airflow_connections_when_defined(plugin_module, settings, seeded, monkeypatch):
    """The dashboard reads the stores the DAGs read: the Airflow connections analytics_postgres / analytics_redis
    win over DATABASE_URL / REDIS_URL (here both point at a dead port, so only the connections can answer)."""
    port = _dead_port()
    env_dead = settings.with_overrides(
        database_url=f"postgresql://postgres@127.0.0.1:{port}/analytics", redis_url=f"redis://127.0.0.1:{port}/0"
    )
    pg = conninfo_to_dict(settings.database_url)
    pg_conn = {"conn_type": "postgres", "host": pg.get("host") or "127.0.0.1", "port": int(pg.get("port") or 5432)}
    pg_conn |= {"login": pg.get("user") or "postgres", "schema": pg["dbname"]}
    monkeypatch.setenv("AIRFLOW_CONN_ANALYTICS_POSTGRES", json.dumps(pg_conn))
    r = urlsplit(settings.redis_url)
    redis_conn = {
        "conn_type": "redis",
        "host": r.hostname,
        "port": r.port,
        "extra": {"db": int(r.path.strip("/") or 0)},
    }
    monkeypatch.setenv("AIRFLOW_CONN_ANALYTICS_REDIS", json.dumps(redis_conn))

    body = _client(plugin_module, env_dead).get("/api/overview?hours=1", headers=ADMIN).json()
    assert body["collector"]["ok"] and body["collector"]["lastHour"]["accepted"] == seeded.accepted_last_hour
    assert body["stream"]["ok"] and body["stream"]["length"] == seeded.stream_length
    assert body["loads"]["ok"] and body["loads"]["last"]["inserted"] == seeded.last_load_inserted
    assert body["alerts"]["ok"] and body["alerts"]["firing"] >= 1
    assert body["stores"]["postgres"] == {
        "target": f"postgresql://{pg_conn['host']}:{pg_conn['port']}/{pg['dbname']}",
        "source": "connection analytics_postgres",
        "fallback": False,
    }
    assert body["stores"]["redis"]["source"] == "connection analytics_redis"

    # A connection defined but broken: an error naming it, never the environment's stores.
    monkeypatch.setenv("AIRFLOW_CONN_ANALYTICS_REDIS", json.dumps(redis_conn | {"conn_type": "http"}))
    plugin_module._stores.clear()
    broken = _client(plugin_module, settings).get("/api/overview?hours=1", headers=ADMIN)
    assert broken.status_code == 503 and broken.json()["code"] == "connection_invalid"
    assert "Airflow connection 'analytics_redis' is unusable: its type is 'http'" in broken.json()["message"]
    assert _client(plugin_module, settings).get("/api/overview").status_code == 401  # no store errors before login

    # Without the connections, the environment's (dead) stores, reported as such: a fallback the page flags.
    monkeypatch.delenv("AIRFLOW_CONN_ANALYTICS_POSTGRES")
    monkeypatch.delenv("AIRFLOW_CONN_ANALYTICS_REDIS")
    plugin_module._stores.clear()
    body = _client(plugin_module, env_dead).get("/api/overview?hours=1", headers=ADMIN).json()
    assert body["collector"]["error"] == "Redis unreachable" and body["loads"]["error"] == "PostgreSQL unreachable"
    assert body["stores"]["postgres"] == {
        "target": f"postgresql://127.0.0.1:{port}/analytics",
        "source": "DATABASE_URL",
        "fallback": True,
    }
    assert body["stores"]["redis"] == {"target": f"redis://127.0.0.1:{port}/0", "source": "REDIS_URL", "fallback": True}


def test_figures_are_judged_against_the_monitor_thresholds(plugin_module, settings, seeded):
    relaxed = _client(plugin_module, settings).get("/api/overview", headers=ADMIN).json()
    assert not relaxed["stream"]["lagAboveThreshold"] and not relaxed["stream"]["pendingAboveThreshold"]
    assert relaxed["loads"]["stale"] is False and relaxed["enrichment"]["aboveThreshold"] is False

    tight = settings.with_overrides(
        monitor_dedup_rate_max=0.2,
        monitor_lag_max=4,
        monitor_pending_age_max_seconds=60,
        monitor_enrich_backlog_max=2,  # the 3 seeded events waiting for 20 h are overdue
        monitor_rejection_rate_max=0.03,  # 3 of 73 in the last 15 min
    )
    body = _client(plugin_module, tight).get("/api/overview", headers=ADMIN).json()
    assert body["collector"]["dedupAboveThreshold"] is False  # 14.3 % is under 20 %
    assert body["stream"]["lagAboveThreshold"] and body["stream"]["pendingAboveThreshold"]
    assert body["enrichment"]["aboveThreshold"] is True and body["enrichment"]["overdue"] >= 3
    assert body["collector"]["rejectionAboveThreshold"] is True
    assert relaxed["collector"]["rejectionAboveThreshold"] is False
    assert relaxed["collector"]["dedupSourcesAbove"] == ["web"]  # web: 9 of 59; ios: 1 of 11, too few checks
    too_few = settings.with_overrides(monitor_min_checks=71)  # 70 checks: too small a sample to judge
    assert (
        _client(plugin_module, too_few).get("/api/overview", headers=ADMIN).json()["collector"]["dedupAboveThreshold"]
        is False
    )


def test_alert_links_are_http_or_same_origin_only(plugin_module, settings, db):
    ids = [
        db.execute(
            """INSERT INTO analytics.alerts (kind, alert_key, title, message, dag_id, task_id, run_id, log_url, state)
               VALUES ('task_failed', 'link-test', 't', 'm', 'events_load', 'load', %s, %s, 'resolved') RETURNING id""",
            (run_id, url),
        ).fetchone()[0]
        for run_id, url in [("r/1 x", "javascript:alert(1)"), ("r2", "//evil.example/x"), ("r3", "https://af/log")]
    ]
    try:
        body = _client(plugin_module, settings).get("/api/overview", headers=ADMIN).json()
        links = {r["id"]: r["logUrl"] for r in body["alerts"]["recent"]}
        assert [links[i] for i in ids] == [
            "/dags/events_load/runs/r%2F1%20x/tasks/load",
            "/dags/events_load/runs/r2/tasks/load",
            "https://af/log",
        ]
    finally:
        db.execute("DELETE FROM analytics.alerts WHERE id = ANY(%s)", (ids,))


def test_viewers_within_seconds_share_one_read(plugin_module, settings):
    client = _client(plugin_module, settings)
    first = client.get("/api/overview", headers=ADMIN).json()
    again = client.get("/api/overview", headers=ADMIN).json()
    assert again["generatedAt"] == first["generatedAt"]
    assert client.get("/api/overview?hours=2", headers=ADMIN).json()["hours"] == 2


def test_empty_stores_say_so(plugin_module, settings):
    body = _client(plugin_module, settings).get("/api/overview", headers=ADMIN).json()
    assert body["collector"]["ok"] and body["collector"]["empty"] == "no events in the last hour"
    assert body["collector"]["lastHour"]["accepted"] == 0 and body["collector"]["dedupAboveThreshold"] is False
    assert len(body["collector"]["series"]) == 180
    assert body["stream"] == body["stream"] | {"ok": True, "length": 0, "groupExists": False, "pending": 0}


def test_store_outages_are_explicit_per_section(plugin_module, settings):
    port = _dead_port()
    redis_down = settings.with_overrides(redis_url=f"redis://127.0.0.1:{port}/0")
    body = _client(plugin_module, redis_down).get("/api/overview", headers=ADMIN).json()
    for name in ("collector", "stream"):
        assert body[name]["ok"] is False and body[name]["error"] == "Redis unreachable", body[name]
    assert body["loads"]["ok"] and body["alerts"]["ok"]

    pg_down = settings.with_overrides(database_url=f"postgresql://postgres@127.0.0.1:{port}/analytics")
    body = _client(plugin_module, pg_down).get("/api/overview", headers=ADMIN).json()
    for name in ("loads", "enrichment", "nightlyDedup", "alerts"):
        assert body[name]["ok"] is False and body[name]["error"] == "PostgreSQL unreachable", body[name]
    assert body["collector"]["ok"] and body["stream"]["ok"]


def test_page_and_data_require_credentials(plugin_module, settings):
    client = _client(plugin_module, settings)
    missing = client.get("/api/overview")
    assert missing.status_code == 401 and missing.json() == {"code": "unauthorized", "message": "Not authenticated"}
    wrong = client.get("/api/overview", headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code == 401 and wrong.json()["code"] == "unauthorized"
    # Every error of the dashboard's API is the project's envelope, as the collector's (ingest_api/errors.py).
    bad = client.get("/api/overview?hours=99", headers=ADMIN)
    assert bad.status_code == 400 and bad.json()["code"] == "bad_request"
    assert [e["field"] for e in bad.json()["errors"]] == ["hours"]
    assert client.get("/api/nothing", headers=ADMIN).json() == {"code": "not_found", "message": "Not Found"}
    broken = TestClient(
        plugin_module.create_app(settings.with_overrides(redis_url="nonsense")), raise_server_exceptions=False
    )
    crash = broken.get("/api/overview", headers=ADMIN)
    assert crash.status_code == 500 and crash.json() == {"code": "internal_error", "message": "internal error"}
    assert client.get("/", follow_redirects=False).status_code in (401, 307)
    page = client.get("/", headers=ADMIN)
    assert page.status_code == 200 and "static/dashboard.js" in page.text
    assert "frame-ancestors 'self'" in page.headers["content-security-policy"]
    # Assets carry no data; they are public like Airflow's own.
    assert client.get("/static/dashboard.js").status_code == 200
    assert client.get("/static/icon.svg").headers["content-type"].startswith("image/svg")


@pytest.fixture
def auth_manager(airflow_db, monkeypatch):
    """Airflow's SimpleAuthManager, initialised in-process as the api-server does."""
    from airflow.api_fastapi import app as api_app

    monkeypatch.setenv(
        "AIRFLOW__CORE__AUTH_MANAGER", "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
    )
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "analyst:viewer")
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "dashboard-test-secret-" + "x" * 48)
    previous = api_app._AuthManagerState.instance
    api_app._AuthManagerState.instance = None
    yield api_app.init_auth_manager()
    api_app._AuthManagerState.instance = previous


def test_airflow_session_cookie_and_bearer_jwt_are_accepted(plugin_module, settings, auth_manager):
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    token = auth_manager.generate_jwt(SimpleAuthManagerUser(username="analyst", role="viewer"))
    client = _client(plugin_module, settings)
    client.cookies.set("_token", token)
    resp = client.get("/api/overview")
    assert resp.status_code == 200 and resp.json()["viewer"] == "analyst"
    assert client.get("/").status_code == 200

    bare = _client(plugin_module, settings)
    assert bare.get("/api/overview", headers={"Authorization": f"Bearer {token}"}).json()["viewer"] == "analyst"
    login = bare.get("/", follow_redirects=False, cookies={"_token": ""})
    assert login.status_code == 307 and "/auth/login" in login.headers["location"]


def test_an_expired_or_invalid_session_is_a_401_envelope_and_the_page_goes_to_login(
    plugin_module, settings, auth_manager
):
    """Not Airflow's raw `{"detail": "Invalid JWT token"}` (a 403): the project's envelope, 401, so the page's script
    sends the browser to the login; the page itself redirects there."""
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    user = SimpleAuthManagerUser(username="analyst", role="viewer")
    expired = auth_manager.generate_jwt(user, expiration_time_in_seconds=-120)
    valid = auth_manager.generate_jwt(user)
    for bad in (expired, f"{valid[:-4]}xxxx", "not-a-jwt"):
        for how in ({"cookies": {"_token": bad}}, {"headers": {"Authorization": f"Bearer {bad}"}}):
            client = _client(plugin_module, settings)
            resp = client.get("/api/overview", **how)
            assert resp.status_code == 401, resp.text
            assert resp.json() == {"code": "unauthorized", "message": plugin_module.SESSION_INVALID}
            assert resp.headers["www-authenticate"] == "Bearer"
        page = _client(plugin_module, settings).get("/", follow_redirects=False, cookies={"_token": bad})
        assert page.status_code == 307 and "/auth/login" in page.headers["location"]

    # Where the script sends the browser: the login, then back to the page it came from (a path of this server only).
    client = _client(plugin_module, settings)
    back = client.get("/login?next=/plugin/analytics-pipeline", follow_redirects=False)
    assert back.status_code == 307
    assert parse_qs(urlsplit(back.headers["location"]).query)["next"] == ["http://testserver/plugin/analytics-pipeline"]
    for hostile in ("https://evil.example/x", "//evil.example/x", "/\\evil.example"):
        off = client.get("/login", params={"next": hostile}, follow_redirects=False)
        assert parse_qs(urlsplit(off.headers["location"]).query)["next"] == ["http://testserver/"], hostile
