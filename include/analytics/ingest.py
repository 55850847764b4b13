"""The collector's core, shared by the native and the Segment-compatible endpoints.

validate (schema → business rules → props) → append atomically with deduplication.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from analytics.config import Settings
from analytics.events import EventRejected, Rules, encode, fingerprint, new_event_id, normalise, parse_event
from analytics.stream import StreamWriter


@dataclass(frozen=True)
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
    )


class Ingestor:
    def __init__(self, settings: Settings, writer: StreamWriter):
        self.settings = settings
        self.writer = writer
        self.rules = rules_from(settings)

    def prepare(self, raw: Any, received_at: datetime, user_agent: str | None, ip: str | None) -> dict[str, Any]:
        """Validate one raw event and return the stream record; raises EventRejected."""
        event = parse_event(raw)
        record = normalise(event, received_at=received_at, rules=self.rules, user_agent=user_agent, ip_address=ip)
        record["id"] = new_event_id()
        record["received_at"] = received_at.isoformat(timespec="microseconds").replace("+00:00", "Z")
        record["fingerprint"] = fingerprint(record)
        return record

    def ingest(
        self, items: list[Any], received_at: datetime, user_agent: str | None = None, ip: str | None = None
    ) -> list[Result]:
        """Validate each item, then append all valid ones in one atomic Redis call; one Result per item."""
        results: list[Result | None] = [None] * len(items)
        pending: list[tuple[int, dict[str, Any]]] = []
        for i, item in enumerate(items):
            try:
                pending.append((i, self.prepare(item, received_at, user_agent, ip)))
            except EventRejected as exc:
                results[i] = Result(
                    "rejected", reason=exc.reason, errors=[e.as_dict() for e in exc.errors], message=str(exc)
                )
        outcomes = self.writer.append(
            [(r["id"], r["fingerprint"], r["source"], r["idempotency_key"], encode(r)) for _, r in pending]
        )
        for (i, _), outcome in zip(pending, outcomes, strict=True):
            if outcome.status == "accepted":
                results[i] = Result("accepted", id=outcome.id)
            else:
                results[i] = Result("duplicate", id=outcome.id, reason=outcome.detail)
        return [r for r in results if r is not None]
