"""Replay kept rejections: re-validate each payload through the collector's own path and append what now passes.

The DAG events_replay_rejected calls `run_replay_from_params`. Rows of `analytics.rejected_events` (stage collector or segment:
payloads as the client sent them, or as the Segment mapping made them) go through `Ingestor.revalidate` — the same
parse, normalisation, reference check and atomic dedupe-and-append as a live request — so the loader then loads them.
Each row is marked with what became of it (migration 0011); a row replayed once is never replayed again.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
from psycopg.types.json import Jsonb

from analytics.collect.events import EventRejected, FieldError
from analytics.collect.ingest import Ingestor, Result
from analytics.collect.refs import RefCache
from analytics.collect.stream import StreamWriter
from analytics.config import Settings
from analytics.db import connect
from analytics.params import parse_instant
from analytics.redis_client import open_redis
from analytics.sql import load_sql

log = logging.getLogger(__name__)

REPLAYABLE_STAGES = ("collector", "segment")
CHUNK = 500  # rows per append call and per marking transaction
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ReplayRequest:
    stage: str
    since: datetime
    until: datetime
    reason: str | None = None
    limit: int = 10_000
    dry_run: bool = True


@dataclass
class ReplayReport:
    request: ReplayRequest
    selected: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    still_rejected_by_reason: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        req = asdict(self.request) | {"since": self.request.since.isoformat(), "until": self.request.until.isoformat()}
        return {
            "request": req,
            "selected": self.selected,
            "outcomes": dict(sorted(self.outcomes.items())),
            "stillRejectedByReason": dict(sorted(self.still_rejected_by_reason.items())),
        }


def replay_key(row_id: int) -> str:
    """The idempotency key a replayed event without its own gets: a replay repeated (say, after a crash before the
    rows were marked) is then a duplicate of the first, in Redis for an hour and in Postgres for good."""
    return f"rejected-event-{row_id}"


def _raw(row_id: int, payload: str) -> Any:
    try:
        raw = json.loads(payload)
    except ValueError:
        # Kept payloads are bounded: a truncated one never parses. Still rejected, with a reason that says so.
        raise EventRejected("schema", [FieldError("body", "json", "kept payload is not valid JSON")]) from None
    if isinstance(raw, dict) and not raw.get("idempotencyKey"):
        raw["idempotencyKey"] = replay_key(row_id)
    return raw


def _verdict(result: Result) -> tuple[str, str | None, str | None, Any]:
    """(outcome, event id, reason, detail) for the row's replay columns."""
    if result.status == "accepted":
        return "replayed", result.id, None, None
    if result.status == "duplicate":
        return "duplicate", result.id, result.reason, None
    return "rejected", None, result.reason, result.errors


def replay_chunk(ingestor: Ingestor, rows: list[tuple[int, str, datetime]], now: datetime, dry_run: bool) -> list:
    """Re-validate (and unless `dry_run`, append) one chunk; one (row id, outcome, event id, reason, detail) per row."""
    verdicts: dict[int, tuple[str, str | None, str | None, Any]] = {}
    items: list[tuple[Any, datetime]] = []
    ids: list[int] = []
    for row_id, payload, rejected_at in rows:
        try:
            raw = _raw(row_id, payload)
            if dry_run:
                ingestor.prepare(raw, rejected_at, None, None)  # no reference check: that needs the append
                verdicts[row_id] = ("passes", None, None, None)
                continue
            items.append((raw, rejected_at))
            ids.append(row_id)
        except EventRejected as exc:
            verdicts[row_id] = ("rejected", None, exc.reason, [e.as_dict() for e in exc.errors])
    if items:
        for row_id, result in zip(ids, ingestor.revalidate(items, now), strict=True):
            verdicts[row_id] = _verdict(result)
    return [(row_id, *verdicts[row_id]) for row_id, _, _ in rows]


def replay(dsn: str, ingestor: Ingestor, req: ReplayRequest, run_id: str | None = None) -> ReplayReport:
    """Replay the rows `req` selects, chunk by chunk; mark each (unless a dry run) and record the run in job_runs."""
    if req.stage not in REPLAYABLE_STAGES:
        raise ValueError(f"stage must be one of {', '.join(REPLAYABLE_STAGES)}, got {req.stage!r}")
    started = datetime.now(UTC)
    report = ReplayReport(req)
    after_id = 0
    with connect(dsn, autocommit=True) as conn:
        while report.selected < req.limit:
            params = {
                "stage": req.stage,
                "reason": req.reason,
                "since": req.since,
                "until": req.until,
                "after_id": after_id,
                "limit": min(CHUNK, req.limit - report.selected),
            }
            rows = conn.execute(load_sql("replay/select_replayable"), params).fetchall()
            if not rows:
                break
            after_id = rows[-1][0]
            report.selected += len(rows)
            verdicts = replay_chunk(ingestor, rows, datetime.now(UTC), req.dry_run)
            for _, outcome, _, reason, _ in verdicts:
                report.outcomes[outcome] += 1
                if outcome == "rejected":
                    report.still_rejected_by_reason[reason] += 1
            if not req.dry_run:
                _mark(conn, verdicts, run_id)
        stats = report.as_dict() | {"dryRun": req.dry_run}
        conn.execute(
            load_sql("replay/insert_job_run"),
            {
                "run_id": run_id,
                "start": req.since,
                "end": req.until,
                "started_at": started,
                "finished_at": datetime.now(UTC),
                "stats": Jsonb(stats),
            },
        )
    log.info(
        "replay %s: %d selected, outcomes %s, still rejected by reason %s",
        "(dry run) " if req.dry_run else "",
        report.selected,
        dict(report.outcomes),
        dict(report.still_rejected_by_reason),
    )
    return report


def _mark(conn, verdicts: list, run_id: str | None) -> None:
    ids, outcomes, event_ids, reasons, details = (list(col) for col in zip(*verdicts, strict=True))
    conn.execute(
        load_sql("replay/update_replayed"),
        {
            "ids": ids,
            "outcomes": outcomes,
            "event_ids": event_ids,
            "reasons": reasons,
            "details": [None if d is None else Jsonb(d) for d in details],
            "run_id": run_id,
            "at": datetime.now(UTC),
        },
    )


def build_ingestor(settings: Settings, client: redis.Redis, dsn: str, stage: str) -> Ingestor:
    """The collector's Ingestor on the DAG's stores (references confirmed in `dsn`, not DATABASE_URL)."""
    writer = StreamWriter.from_settings(client, settings)
    refs = RefCache(
        client, writer.keys, dsn, ttl_seconds=settings.refs_ttl_seconds, timeout_seconds=settings.refs_timeout_seconds
    )
    return Ingestor(settings, writer, stage=stage, refs=refs if settings.check_references else None)


def run_replay_from_params(params: Mapping[str, Any], triggered_at: datetime, run_id: str | None = None) -> dict:
    """The events_replay_rejected task: its form's params, the stores from the Airflow connections."""
    from analytics.config import get_settings
    from analytics.connections import postgres_dsn, redis_url

    req = ReplayRequest(
        stage=params["stage"],
        reason=params.get("reason") or None,
        since=parse_instant(params["since"], "since") if params.get("since") else EPOCH,
        until=parse_instant(params["until"], "until") if params.get("until") else triggered_at,
        limit=params["limit"],
        dry_run=params["dry_run"],
    )
    s = get_settings()
    dsn = postgres_dsn()
    client = open_redis(redis_url(), s, socket_timeout=s.redis_timeout_seconds * 5)
    ingestor = build_ingestor(s, client, dsn, req.stage)
    try:
        return replay(dsn, ingestor, req, run_id=run_id).as_dict()
    finally:
        if ingestor.refs is not None:
            ingestor.refs.close()
        client.close()
