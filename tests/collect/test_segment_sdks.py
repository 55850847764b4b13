"""The official Segment and RudderStack Python SDKs, unmodified, against the collector over HTTP → Postgres."""

from __future__ import annotations

import uuid

import pytest
import requests
from segment.analytics.client import Client as SegmentClient
from segment.analytics.request import APIError as SegmentAPIError

from analytics.load.job import run_load
from analytics.load.tasks import loader_config
from tests.helpers.live_collector import live_collector
from tests.helpers.rudder_sdk import rudder_client_class

RudderClient = rudder_client_class()

WRITE_KEY = "wk_sdk_test"


@pytest.fixture
def keyed(settings):
    return settings.with_overrides(write_keys=(WRITE_KEY,))


def _load(settings, redis_client) -> None:
    run_load(settings.database_url, redis_client, loader_config(settings, time_budget_s=5.0, block_ms=50))


def _rows(db, ids: list[str]) -> list[tuple]:
    return db.execute(
        "SELECT idempotency_key, event_type, actor_id, entity_type, entity_id, props_json FROM analytics.events"
        " WHERE source = 'segment' AND idempotency_key = ANY(%s) ORDER BY idempotency_key",
        (ids,),
    ).fetchall()


def _send(sdk, ids: dict[str, str], user: str) -> None:
    sdk.track(user, "Asset Downloaded", {"assetId": "ast_050", "format": "jpg"}, message_id=ids["track"])
    sdk.page(user, "Docs", "Pricing", {"url": "https://example.com/pricing"}, message_id=ids["page"])
    sdk.identify(user, {"email": "someone@example.com", "plan": "pro"}, message_id=ids["identify"])
    sdk.flush()


def test_both_sdks_land_in_postgres_and_a_replayed_batch_is_stored_once(keyed, redis_client, db):
    run = uuid.uuid4().hex[:8]
    seg_ids = {k: f"seg-{k}-{run}" for k in ("track", "page", "identify")}
    rud_ids = {k: f"rud-{k}-{run}" for k in ("track", "page", "identify")}
    errors: list = []
    with live_collector(keyed) as (url, gate):
        common = {"write_key": WRITE_KEY, "host": f"{url}/segment", "upload_interval": 0.05, "max_retries": 1}
        segment = SegmentClient(on_error=lambda e, batch: errors.append(e), **common)
        _send(segment, seg_ids, "usr_020")
        rudder = RudderClient(on_error=lambda e, batch: errors.append(e), **common)
        _send(rudder, rud_ids, "usr_021")
        assert errors == []

        batches = [r for r in gate.requests if r["path"] == "/segment/v1/batch"]
        assert {r["headers"].get("Content-Encoding") for r in batches} == {None, "gzip"}  # RudderStack gzips
        assert all(r["headers"]["Authorization"].startswith("Basic ") for r in batches)
        sent = sum(len(r["body"]["batch"]) for r in batches)
        assert sent == 6

        # The SDKs' exact bytes again, as their retry after a lost answer would send them.
        for r in batches:
            headers = {
                k: v for k, v in r["headers"].items() if k in ("Content-Type", "Content-Encoding", "Authorization")
            }
            again = requests.post(url + r["path"], data=r["raw"], headers=headers, timeout=10)
            assert again.status_code == 200
            assert again.json()["accepted"] == 0 and again.json()["duplicate"] == len(r["body"]["batch"])

    _load(keyed, redis_client)
    _load(keyed, redis_client)
    rows = _rows(db, [*seg_ids.values(), *rud_ids.values()])
    assert len(rows) == 6
    by_key = {r[0]: r[1:] for r in rows}
    for ids, user in ((seg_ids, "usr_020"), (rud_ids, "usr_021")):
        assert by_key[ids["track"]] == (
            "asset_downloaded",
            user,
            "asset",
            "ast_050",
            {"assetId": "ast_050", "format": "jpg"},
        )
        assert by_key[ids["page"]][:4] == ("page_viewed", user, None, None)
        assert by_key[ids["page"]][4]["path"] == "/pricing"
        assert by_key[ids["identify"]] == ("user_profile_updated", user, "user", user, {"fields": ["email", "plan"]})


def test_sdks_read_our_4xx_for_a_wrong_write_key(keyed, redis_client):
    with live_collector(keyed) as (url, _):
        segment = SegmentClient(write_key="wrong", host=f"{url}/segment", sync_mode=True, max_retries=0)
        with pytest.raises(SegmentAPIError) as caught:
            segment.track("usr_001", "Asset Viewed", {"assetId": "ast_001"})
        assert (caught.value.status, caught.value.code) == (401, "unauthorized")
        rudder = RudderClient(write_key="wrong", host=f"{url}/segment", sync_mode=True, max_retries=0)
        with pytest.raises(Exception, match="unauthorized"):
            rudder.track("usr_001", "Asset Viewed", {"assetId": "ast_001"})
    assert redis_client.xlen(keyed.stream_key) == 0
