"""The spine: HTTP → Redis stream → events_load DAG run → analytics.events."""

from __future__ import annotations


def test_event_travels_http_stream_dag_postgres(client, settings, redis_client, dagbag, db):
    resp = client.post(
        "/v1/track",
        json={
            "eventType": "asset_viewed",
            "source": "web",
            "actorId": "usr_002",
            "entityId": "ast_003",
            "entityType": "asset",
            "sessionId": "s-e2e",
            "props": {"viewDurationMs": 1200},
        },
    )
    assert resp.status_code == 202, resp.get_json()
    event_id = resp.get_json()["id"]

    entries = redis_client.xrange(settings.stream_key)
    assert [e[1][b"id"].decode() for e in entries] == [event_id]

    dag = dagbag.get_dag("events_load")
    run = dag.test()
    assert run.state == "success"

    row = db.execute(
        "SELECT id::text, event_type, actor_id, entity_id, props_json FROM analytics.events WHERE id = %s", (event_id,)
    ).fetchone()
    assert row == (event_id, "asset_viewed", "usr_002", "ast_003", {"viewDurationMs": 1200})
    pending = redis_client.xpending(settings.stream_key, settings.consumer_group)
    assert pending["pending"] == 0
