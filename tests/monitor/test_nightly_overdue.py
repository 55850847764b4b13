"""The silence of the nightly job pages: no deduplication run for 26 h (since the last one, or since the install when
none ever ran) is monitor.nightly_overdue; a run clears it. A database of the test's own: the install time and the
runs recorded are the test's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from analytics.dedup.job import deduplicate
from analytics.monitor.job import monitor
from tests.monitor.test_count_check import own_db  # noqa: F401 - the fixture
from tests.monitor.test_monitor import _hooks

KIND = "monitor.nightly_overdue"


def test_no_deduplication_run_for_a_day_and_more_pages_until_one_runs(own_db, redis_client):  # noqa: F811
    s, conn, posts = own_db
    now = datetime.now(UTC)
    conn.execute("UPDATE public.schema_migrations SET applied_at = %s", (now - timedelta(hours=20),))
    assert KIND not in monitor(s.database_url, redis_client, s, now)["alerts"]["fired"]  # a young install: quiet

    later = now + timedelta(hours=7)  # 27 h since the install, no run ever
    assert KIND in monitor(s.database_url, redis_client, s, later)["alerts"]["fired"]
    (page,) = _hooks(posts, KIND)
    assert page["title"] == "No deduplication run for 27 h (events_dedup_nightly runs daily at 02:00 UTC)"
    assert "none ever" in page["message"]

    deduplicate(s.database_url, later - timedelta(days=1), later, run_id="overdue-test")
    assert KIND in monitor(s.database_url, redis_client, s, later + timedelta(minutes=5))["alerts"]["resolved"]
    # A day and three hours after that run, it pages again, naming it.
    again = monitor(s.database_url, redis_client, s, datetime.now(UTC) + timedelta(hours=27))
    assert KIND in again["alerts"]["fired"]
    assert "the last one finished" in _hooks(posts, KIND)[-1]["message"]
