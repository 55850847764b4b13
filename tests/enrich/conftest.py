"""Fixtures of the session tests (derived sessions, session counts)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest


@pytest.fixture
def day() -> datetime:
    """A past UTC day no other test uses (before the dates other tests use)."""
    return datetime(2013, 1, 1, tzinfo=UTC) + timedelta(days=uuid.uuid4().int % 1800)


@pytest.fixture
def actor(db) -> str:
    """The visitor's id; after the test, its events and what enrichment derived from them are removed."""
    actor = f"anon-{uuid.uuid4().hex[:10]}"
    yield actor
    ids = "SELECT id FROM analytics.events WHERE actor_id IN (%(a)s, %(b)s) OR session_id = %(c)s OR props_json ->> 'test' = %(a)s"
    params = {"a": actor, "b": f"{actor}-2", "c": f"c-{actor}"}
    db.execute(f"DELETE FROM analytics.event_context WHERE event_id IN ({ids})", params)
    db.execute("DELETE FROM analytics.sessions WHERE actor_id IN (%(a)s, %(b)s) OR session_id = %(c)s", params)
    db.execute(f"DELETE FROM analytics.events WHERE id IN ({ids})", params)
