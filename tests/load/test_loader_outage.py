"""Postgres down: the load task fails, the events wait in the stream, and all load once it is back."""

from __future__ import annotations

import pytest

from analytics.collect.copyrow import stream_fields
from tests.helpers.postgres_server import PostgresServer
from tests.load.test_loader import make_record


@pytest.fixture
def pg_server():
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


def test_postgres_outage_fails_the_task_and_loses_nothing(settings, redis_client, dagbag, pg_server, monkeypatch):
    from analytics.db import connect, ensure_database
    from analytics.migrate import migrate

    ensure_database(pg_server.url)
    migrate(pg_server.url)
    monkeypatch.setenv("DATABASE_URL", pg_server.url)
    dag = dagbag.get_dag("events_load")
    for task in dag.tasks:  # fail on the first try instead of waiting out the retry delays
        monkeypatch.setattr(task, "retries", 0)

    records = [make_record(i) for i in range(50)]
    for rec in records:
        redis_client.xadd(settings.stream_key, stream_fields(rec))

    pg_server.stop()
    run = dag.test()
    assert run.state == "failed"
    assert {ti.task_id: ti.state for ti in run.get_task_instances()}["load"] == "failed"
    assert redis_client.xlen(settings.stream_key) == 50  # nothing trimmed, nothing lost

    pg_server.start()
    run = dag.test()
    assert run.state == "success"
    with connect(pg_server.url) as conn:
        ids = [r[0] for r in conn.execute("SELECT id::text FROM analytics.events ORDER BY id")]
        watermark = conn.execute("SELECT max(watermark) FROM analytics.load_runs").fetchone()[0]
    assert ids == sorted(r["id"] for r in records)
    assert watermark is not None
    assert redis_client.xpending(settings.stream_key, settings.consumer_group)["pending"] == 0
