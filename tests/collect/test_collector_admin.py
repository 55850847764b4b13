"""Admin endpoints: token in constant time, stats, flush through a local imitation of Airflow's REST API v2."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

ADMIN = {"Authorization": "Bearer test-admin-token"}


class FakeAirflow(BaseHTTPRequestHandler):
    """/auth/token (simple auth manager) and POST /api/v2/dags/{dag_id}/dagRuns, as Airflow 3 answers them."""

    calls: list[tuple[str, dict, dict]] = []

    def log_message(self, *args) -> None:
        pass

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        self.calls.append((self.path, dict(self.headers), body))
        if self.path == "/auth/token":
            if body == {"username": "admin", "password": "s3cret"}:
                return self._send(201, {"access_token": "jwt-abc"})
            return self._send(401, {"detail": "Invalid credentials"})
        if self.path.startswith("/api/v2/dags/") and self.path.endswith("/dagRuns"):
            if self.headers.get("Authorization") != "Bearer jwt-abc":
                return self._send(401, {"detail": "Not authenticated"})
            if "logical_date" not in body:
                return self._send(422, {"detail": "logical_date: Field required"})
            dag_id = self.path.split("/")[4]
            return self._send(
                200,
                {
                    "dag_run_id": "manual__2026-11-28T21:00:00+00:00",
                    "dag_id": dag_id,
                    "state": "queued",
                    "logical_date": None,
                },
            )
        return self._send(404, {"detail": "Not Found"})


@pytest.fixture
def fake_airflow():
    FakeAirflow.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeAirflow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("path,method", [("/v1/admin/stats", "get"), ("/v1/admin/flush", "post")])
def test_admin_needs_the_token(client, path, method):
    call = getattr(client, method)
    assert call(path).status_code == 401
    assert call(path, headers={"Authorization": "Bearer wrong"}).get_json()["code"] == "unauthorized"
    assert call(path, headers={"Authorization": "Bearer test-admin-token-and-more"}).status_code == 401


def test_admin_disabled_without_a_configured_token(settings):
    from ingest_api import create_app

    c = create_app(settings.with_overrides(admin_token=None)).test_client()
    assert c.get("/v1/admin/stats", headers=ADMIN).status_code == 403


def test_stats_reports_counts_stream_and_last_load(client, settings, redis_client, db):
    ev = {
        "eventType": "asset_viewed",
        "source": "web",
        "actorId": "usr_001",
        "entityId": "ast_001",
        "entityType": "asset",
        "sessionId": "adm",
        "occurredAt": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
    }
    client.post("/v1/track", json=ev)
    client.post("/v1/track", json=ev)
    client.post("/v1/track", json={**ev, "eventType": "nope"})
    redis_client.xgroup_create(settings.stream_key, settings.consumer_group, id="0")
    finished = datetime.now(UTC) + timedelta(days=3650)  # later than any other test's run in this database
    db.execute(
        "INSERT INTO analytics.load_runs (run_id, started_at, finished_at, inserted) VALUES ('adm-run', %s, %s, 7)",
        (finished - timedelta(seconds=1), finished),
    )
    try:
        body = client.get("/v1/admin/stats", headers=ADMIN).get_json()
    finally:
        db.execute("DELETE FROM analytics.load_runs WHERE run_id = 'adm-run'")
    assert body["totalChecks"] == 2
    assert body["duplicatesFound"] == 1
    assert body["deduplicationRate"] == 0.5
    assert body["windows"]["5m"]["rejectedByReason"] == {"unknown_event_type": 1}
    assert body["windows"]["24h"]["accepted"] == 1
    assert (body["stream"]["length"], body["stream"]["lag"], body["stream"]["pending"]) == (1, 1, 0)
    assert body["rejectedStream"]["length"] == 1
    assert len(body["timeseries"]) == 60
    assert body["timeseries"][-1] == {**body["timeseries"][-1], "accepted": 1, "duplicate": 1, "rejected": 1}
    assert body["lastLoad"]["run_id"] == "adm-run"
    assert body["lastLoad"]["inserted"] == 7
    assert body["lastLoad"]["finished_at"].endswith("Z")


def test_flush_triggers_events_load_with_a_jwt(settings, fake_airflow):
    from ingest_api import create_app

    c = create_app(
        settings.with_overrides(airflow_api_url=fake_airflow, airflow_username="admin", airflow_password="s3cret")
    ).test_client()
    resp = c.post("/v1/admin/flush", headers=ADMIN)
    assert resp.status_code == 202, resp.get_json()
    assert resp.get_json()["dagRunId"] == "manual__2026-11-28T21:00:00+00:00"
    assert resp.get_json()["dagId"] == "events_load"
    (token_call, run_call) = FakeAirflow.calls
    assert token_call[0] == "/auth/token"
    assert run_call[0] == "/api/v2/dags/events_load/dagRuns"
    assert run_call[2] == {"logical_date": None, "conf": {}}


def test_flush_errors_are_enveloped(settings, fake_airflow):
    from ingest_api import create_app

    wrong = create_app(
        settings.with_overrides(airflow_api_url=fake_airflow, airflow_username="admin", airflow_password="nope")
    ).test_client()
    resp = wrong.post("/v1/admin/flush", headers=ADMIN)
    assert (resp.status_code, resp.get_json()["code"]) == (502, "airflow_error")
    assert "401" in resp.get_json()["message"]

    unset = create_app(settings.with_overrides(airflow_username=None, airflow_password=None)).test_client()
    assert unset.post("/v1/admin/flush", headers=ADMIN).get_json()["code"] == "not_configured"

    down = create_app(
        settings.with_overrides(airflow_api_url="http://127.0.0.1:9", airflow_username="a", airflow_password="b")
    ).test_client()
    resp = down.post("/v1/admin/flush", headers=ADMIN)
    assert (resp.status_code, resp.get_json()["code"]) == (502, "airflow_error")
