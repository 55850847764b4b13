"""The collector's core, shared by the native and the Segment-compatible endpoints.

validate (schema → business rules → props) → append atomically with deduplication; rejections are
kept (`Keys.rejected_stream`) and counted in the same Redis call.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from analytics.collect.copyrow import encode_line
from analytics.collect.events import (
    EventRejected,
    FieldError,
    Rules,
    canonical_json,
    fingerprint,
    iso_utc,
    new_event_id,
    normalise,
    parse_event,
)
from analytics.collect.refs import RefCache
from analytics.collect.registry import EVENT_TYPES, SOURCES
from analytics.collect.stream import Item, Misses, Outcome, Rejection, StreamWriter
from analytics.config import Settings

MAX_REJECTED_PAYLOAD_BYTES = 65_536
MAX_REJECTED_ERRORS = 20
_SOURCE_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,31}$")


@dataclass(slots=True)  # one per event: not frozen, which costs ~3x to build
class Result:
    """One item's outcome: accepted (202), duplicate (200, original id) or rejected (reason, errors)."""

    status: str
    id: str | None = None
    reason: str | None = None
    errors: list[dict[str, str]] | None = None
    message: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status}
        if self.id is not None:
            out["id"] = self.id
        if self.reason is not None:
            out["reason"] = self.reason
        if self.errors:
            out["errors"] = self.errors
        return out


def rules_from(settings: Settings) -> Rules:
    return Rules(
        max_age=timedelta(days=settings.max_event_age_days),
        max_future=timedelta(seconds=settings.max_future_skew_seconds),
        backfill_sources=settings.backfill_sources,
        sources=frozenset((*SOURCES, *settings.extra_sources)),
        max_clock_skew=timedelta(seconds=settings.max_clock_skew_seconds),
    )


def rejection(raw: Any, reason: str, errors: list[dict[str, str]], stage: str) -> Rejection:
    """What is kept of a rejected item: bounded payload and errors, raw source/type, low-cardinality stat labels."""
    try:
        payload = raw if isinstance(raw, str) else json.dumps(raw, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        payload = f"<not serialisable: {type(raw).__name__}>"
    data = payload.encode("utf-8", "replace")
    if len(data) > MAX_REJECTED_PAYLOAD_BYTES:
        payload = data[:MAX_REJECTED_PAYLOAD_BYTES].decode("utf-8", "ignore")
    src = raw.get("source") if isinstance(raw, dict) else None
    etype = raw.get("eventType") if isinstance(raw, dict) else None
    src = src[:128] if isinstance(src, str) else ""
    etype = etype[:128] if isinstance(etype, str) else ""
    bounded = [{k: str(v)[:512] for k, v in e.items()} for e in errors[:MAX_REJECTED_ERRORS]]
    return Rejection(
        payload=payload,
        reason=reason,
        errors=json.dumps(bounded, separators=(",", ":"), ensure_ascii=False),
        source=src,
        event_type=etype,
        stage=stage,
        stat_source=src if _SOURCE_RE.match(src) else "",
        stat_event_type=etype if etype in EVENT_TYPES else "",
    )


def _item(record: dict[str, Any], check_refs: bool, routed: bool = False) -> Item:
    return Item(
        id=record["id"],
        fingerprint=record["fingerprint"],
        source=record["source"],
        idempotency_key=record["idempotency_key"],
        record=encode_line(record),
        event_type=record["event_type"],
        actor_ref=record["actor_id"] if check_refs and record["actor_type"] == "user" else None,
        entity_kind=record["entity_type"] if check_refs else None,
        entity_ref=record["entity_id"] if check_refs else None,
        route=(record["actor_id"] or record["session_id"]) if routed else None,
    )


class Ingestor:
    def __init__(
        self,
        settings: Settings,
        writer: StreamWriter,
        *,
        stage: str = "collector",
        refs: RefCache | None = None,
    ):
        self.settings = settings
        self.writer = writer
        self.rules = rules_from(settings)
        self.stage = stage
        self.check_refs = settings.check_references
        self.routed = settings.stream_shards > 1  # only then does an item need its shard routing key
        if refs is None and self.check_refs:
            refs = RefCache(
                writer.client,
                writer.keys,
                settings.database_url,
                ttl_seconds=settings.refs_ttl_seconds,
                timeout_seconds=settings.refs_timeout_seconds,
            )
        self.refs = refs

    def prepare(
        self,
        raw: Any,
        received_at: datetime,
        user_agent: str | None,
        ip: str | None,
        received_at_iso: str | None = None,
    ) -> dict[str, Any]:
        """Validate one raw event and return the stream record; raises EventRejected."""
        try:
            event = parse_event(raw)
            record = normalise(
                event,
                received_at=received_at,
                rules=self.rules,
                user_agent=user_agent,
                ip_address=ip,
                received_at_iso=received_at_iso,
            )
        except RecursionError:
            # Cheaper than walking every event up front: hostile nesting is rare, and Python recovers from this.
            raise EventRejected("schema", [FieldError("body", "max_depth", "nested too deeply")]) from None
        record["id"] = new_event_id()
        record["received_at"] = received_at_iso or iso_utc(received_at)
        record["props_json"] = canonical_json(record["props"])  # once: for the fingerprint and the COPY line
        record["fingerprint"] = fingerprint(record)
        return record

    def ingest(
        self,
        items: list[Any],
        received_at: datetime,
        user_agent: str | None = None,
        ip: str | None = None,
        *,
        stage: str | None = None,
    ) -> list[Result]:
        """Validate each item, then keep rejections and append valid ones in one atomic Redis call.

        One Result per item, in order. `stage` labels kept rejections ("collector", "segment").
        Raises redis.RedisError or RefsUnavailable (transient: nothing was written)."""
        stage = stage or self.stage
        results: list[Result | None] = [None] * len(items)
        pending: list[tuple[int, Item]] = []
        rejected: list[Rejection] = []
        rejected_at = iso_utc(received_at)
        for i, raw in enumerate(items):
            try:
                record = self.prepare(raw, received_at, user_agent, ip, rejected_at)
                pending.append((i, _item(record, self.check_refs, self.routed)))
            except EventRejected as exc:
                errors = [e.as_dict() for e in exc.errors]
                results[i] = Result("rejected", reason=exc.reason, errors=errors, message=str(exc))
                rejected.append(rejection(raw, exc.reason, errors, stage))
        return self._append(items, pending, results, rejected, stage, received_at, rejected_at, keep=True)

    def revalidate(self, items: list[tuple[Any, datetime]], received_at: datetime) -> list[Result]:
        """Replay kept rejections, each given with the moment it first arrived: one Result per item, in order.

        Each item is validated as of its first arrival (so its occurrence time is what the collector would have
        computed then, `sentAt` correction included), stamped received now, and appended through the same
        reference check and dedupe as `ingest`. A rejection is only answered: the item is already kept."""
        results: list[Result | None] = [None] * len(items)
        pending: list[tuple[int, Item]] = []
        now_iso = iso_utc(received_at)
        for i, (raw, first_received) in enumerate(items):
            try:
                record = self.prepare(raw, first_received, None, None)
                record["received_at"] = now_iso
                pending.append((i, _item(record, self.check_refs, self.routed)))
            except EventRejected as exc:
                errors = [e.as_dict() for e in exc.errors]
                results[i] = Result("rejected", reason=exc.reason, errors=errors, message=str(exc))
        return self._append(
            [raw for raw, _ in items], pending, results, [], self.stage, received_at, now_iso, keep=False
        )

    def _append(
        self,
        raws: list[Any],
        pending: list[tuple[int, Item]],
        results: list[Result | None],
        rejected: list[Rejection],
        stage: str,
        received_at: datetime,
        rejected_at: str,
        *,
        keep: bool,
    ) -> list[Result]:
        """Append the valid items (and keep `rejected` when `keep`) in one atomic call; misses confirmed first.

        Counted in the stats minute of `received_at`, the moment the records carry, so that the collector's counts
        of an hour and the rows stored for it can be compared exactly (the monitor's check_counts)."""
        kept = rejected if keep else []
        at = received_at.timestamp()
        outcomes = self.writer.append([it for _, it in pending], kept, rejected_at=rejected_at, now=at)
        if isinstance(outcomes, Misses):
            pending = self._resolve_misses(raws, pending, outcomes, results, rejected, stage)
            outcomes = self.writer.append([it for _, it in pending], kept, rejected_at=rejected_at, now=at)
            assert not isinstance(outcomes, Misses)  # no reference is checked twice
        for (i, _), outcome in zip(pending, outcomes, strict=True):
            results[i] = _result(outcome)
        return [r for r in results if r is not None]

    def _resolve_misses(
        self,
        raws: list[Any],
        pending: list[tuple[int, Item]],
        misses: Misses,
        results: list[Result | None],
        rejected: list[Rejection],
        stage: str,
    ) -> list[tuple[int, Item]]:
        """Confirm the cache misses in Postgres: unknown ids reject their item, the rest go through unchecked."""
        wanted: dict[str, set[str]] = defaultdict(set)
        for j, which in misses.items.items():
            item = pending[j][1]
            if "actor" in which and item.actor_ref:
                wanted["user"].add(item.actor_ref)
            if "entity" in which and item.entity_kind and item.entity_ref:
                wanted[item.entity_kind].add(item.entity_ref)
        assert self.refs is not None
        found = self.refs.confirm(wanted)
        kept: list[tuple[int, Item]] = []
        for j, (i, item) in enumerate(pending):
            errors: list[dict[str, str]] = []
            which = misses.items.get(j, ())
            if "actor" in which and item.actor_ref not in found.get("user", ()):
                errors.append({"field": "actorId", "rule": "exists", "message": f"no user {item.actor_ref!r}"})
            if "entity" in which and item.entity_ref not in found.get(item.entity_kind or "", ()):
                errors.append(
                    {"field": "entityId", "rule": "exists", "message": f"no {item.entity_kind} {item.entity_ref!r}"}
                )
            if errors:
                message = "reference: " + "; ".join(f"{e['field']}: {e['message']}" for e in errors)
                results[i] = Result("rejected", reason="reference", errors=errors, message=message)
                rejected.append(rejection(raws[i], "reference", errors, stage))
            else:
                kept.append((i, replace(item, actor_ref=None, entity_kind=None, entity_ref=None)))
        return kept

    def record_rejections(
        self, rejected: list[tuple[Any, str, list[dict[str, str]]]], received_at: datetime, *, stage: str | None = None
    ) -> None:
        """Keep and count items refused outside `ingest` (e.g. a Segment call that maps to no event)."""
        stage = stage or self.stage
        self.writer.append(
            [],
            [rejection(raw, reason, errors, stage) for raw, reason, errors in rejected],
            rejected_at=iso_utc(received_at),
            now=received_at.timestamp(),
        )


def _result(outcome: Outcome) -> Result:
    if outcome.status == "accepted":
        return Result("accepted", id=outcome.id)
    return Result("duplicate", id=outcome.id, reason=outcome.detail)
