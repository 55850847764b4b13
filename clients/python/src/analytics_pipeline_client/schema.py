"""The one event schema: client input, validation in layers, and the normalised stream record.

Shared by the client and the collector (`analytics.collect.events` builds on it): Python 3.9+, pydantic only.
Model annotations use Optional/Union: pydantic on 3.9 cannot evaluate `X | None`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Literal, Optional

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, with_config
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from analytics_pipeline_client.registry import ENTITY_TYPES, EVENT_TYPES, SOURCES

MAX_PROPS_BYTES = 16_384
MAX_PROPS_DEPTH = 5
MAX_PROPS_KEYS = 100

Id = Field(default=None, min_length=1, max_length=128)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must include a timezone offset, e.g. 2026-01-01T12:00:00Z")
    if value.year in (1, 9999):  # at the calendar's ends an offset can carry the time past them in UTC
        try:
            value.astimezone(timezone.utc)
        except OverflowError:
            raise ValueError("falls outside the calendar (years 1 to 9999) in UTC") from None
    return value


# Checked only when a value is given: a field_validator would also be called (from Rust) for every None.
AwareDatetime = Annotated[datetime, AfterValidator(_aware)]


@with_config(ConfigDict(extra="forbid", str_max_length=2048))
class Attribution(TypedDict, total=False):
    """Validated into a plain dict of the keys given (a model instance, then a dump, cost ~1 µs more per event)."""

    utmSource: Annotated[Optional[str], Field(max_length=256)]
    utmMedium: Annotated[Optional[str], Field(max_length=256)]
    utmCampaign: Annotated[Optional[str], Field(max_length=256)]
    utmTerm: Annotated[Optional[str], Field(max_length=256)]
    utmContent: Annotated[Optional[str], Field(max_length=256)]
    referrer: Annotated[Optional[str], Field(max_length=2048)]
    landingPage: Annotated[Optional[str], Field(max_length=2048)]


class EventIn(BaseModel):
    """What a client posts to /v1/track (camelCase, as in the original design)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    eventType: str = Field(min_length=1, max_length=64)
    source: str = Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_.-]*$")
    occurredAt: Optional[AwareDatetime] = None
    sentAt: Optional[AwareDatetime] = None
    actorId: Optional[str] = Id
    actorType: Optional[Literal["user", "anonymous", "service"]] = None
    entityId: Optional[str] = Id
    entityType: Optional[str] = Field(default=None, max_length=32)
    sessionId: Optional[str] = Id
    props: dict[str, Any] = Field(default_factory=dict)
    attribution: Optional[Attribution] = None
    idempotencyKey: Optional[str] = Field(default=None, min_length=1, max_length=128)
    userAgent: Optional[str] = Field(default=None, max_length=1024)

    @field_validator("props")
    @classmethod
    def _bounded(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(value) > MAX_PROPS_KEYS:
            raise ValueError(f"at most {MAX_PROPS_KEYS} keys")
        depth, size = _shape(value, 1)
        if depth > MAX_PROPS_DEPTH:
            raise ValueError(f"nested deeper than {MAX_PROPS_DEPTH} levels")
        # Serialise only when the cheap bound cannot rule the limit out.
        if size > MAX_PROPS_BYTES and len(_PROPS_JSON.encode(value)) > MAX_PROPS_BYTES:
            raise ValueError(f"larger than {MAX_PROPS_BYTES} bytes as JSON")
        return value


_PROPS_JSON = json.JSONEncoder(separators=(",", ":"), default=str)
_UNBOUNDED = 1 << 62  # a size bound that always sends the value to the exact serialisation
_BIG_INT_BITS = 64  # longer ints are measured exactly (json also refuses ints beyond 4,300 digits)


def _shape(value: Any, level: int) -> tuple[int, int]:
    """Nesting depth (containers at `level`; a scalar counts as level - 1) and an upper bound of the length of
    `value` as compact ASCII JSON (`_PROPS_JSON`): escapes take at most 6 characters per ASCII character and
    12 per other character, ints at most one digit per 3 bits plus a sign, floats at most 24 characters."""
    if isinstance(value, str):
        return level - 1, 2 + len(value) * (6 if value.isascii() else 12)
    if isinstance(value, bool) or value is None:
        return level - 1, 5
    if isinstance(value, int):
        bits = value.bit_length()
        return level - 1, (bits // 3 + 2 if bits <= _BIG_INT_BITS else _UNBOUNDED)
    if isinstance(value, float):
        return level - 1, 24
    if isinstance(value, dict):
        depth, size = level, 2 + 2 * len(value)  # braces, colons, commas
        for key, item in value.items():
            if not isinstance(key, str):
                size = _UNBOUNDED
                key = ""
            d, s = _shape(item, level + 1)
            depth = max(depth, d)
            size += s + 2 + len(key) * (6 if key.isascii() else 12)
        return depth, size
    if isinstance(value, list):
        depth, size = level, 2 + len(value)  # brackets, commas
        for item in value:
            d, s = _shape(item, level + 1)
            depth = max(depth, d)
            size += s
        return depth, size
    return level - 1, _UNBOUNDED  # other types go through `default=str`: measured exactly


@dataclass(frozen=True)
class FieldError:
    field: str
    rule: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "rule": self.rule, "message": self.message}


class EventRejected(Exception):
    """Permanent: the event is invalid and will stay so; `reason` is the counted category."""

    def __init__(self, reason: str, errors: list[FieldError]):
        super().__init__(f"{reason}: " + "; ".join(f"{e.field}: {e.message}" for e in errors))
        self.reason = reason
        self.errors = errors


@dataclass(frozen=True)
class Rules:
    max_age: timedelta = timedelta(days=7)
    max_future: timedelta = timedelta(minutes=5)
    backfill_sources: tuple[str, ...] = ("backfill", "import")
    sources: frozenset[str] = frozenset(SOURCES)
    # sentAt this close to receivedAt measures the client's clock error; further off it is a replay or an import.
    max_clock_skew: timedelta = timedelta(minutes=15)


def _pydantic_errors(exc: ValidationError, prefix: str = "") -> list[FieldError]:
    out = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"])
        out.append(FieldError(f"{prefix}{loc}" if loc else prefix.rstrip(".") or "body", err["type"], err["msg"]))
    return out


_EVENT_VALIDATOR = EventIn.__pydantic_validator__  # EventIn.model_validate without its Python wrapper


def parse_event(raw: Any) -> EventIn:
    if not isinstance(raw, dict):
        raise EventRejected("schema", [FieldError("body", "type", "an event must be a JSON object")])
    try:
        return _EVENT_VALIDATOR.validate_python(raw)
    except ValidationError as exc:
        raise EventRejected("schema", _pydantic_errors(exc)) from None


def normalise(
    event: EventIn,
    *,
    received_at: datetime,
    rules: Rules = Rules(),
    user_agent: str | None = None,
    ip_address: str | None = None,
    received_at_iso: str | None = None,
) -> dict[str, Any]:
    """Apply the business rules and per-type props; return the record the stream carries.

    `received_at_iso` (`iso_utc(received_at)`, computed once per request) saves formatting it again for
    events that give no `occurredAt`."""
    spec = EVENT_TYPES.get(event.eventType)
    if spec is None:
        raise EventRejected(
            "unknown_event_type",
            [
                FieldError(
                    "eventType",
                    "registered",
                    f"unknown event type {event.eventType!r}; valid: {', '.join(sorted(EVENT_TYPES))}",
                )
            ],
        )
    if event.source not in rules.sources:
        raise EventRejected(
            "unknown_source",
            [
                FieldError(
                    "source",
                    "registered",
                    f"unknown source {event.source!r}; valid: {', '.join(sorted(rules.sources))}",
                )
            ],
        )
    errors: list[FieldError] = []
    if event.entityType is not None and event.entityType not in ENTITY_TYPES:
        errors.append(FieldError("entityType", "enum", f"must be one of {', '.join(ENTITY_TYPES)}"))
    elif event.entityType is not None and event.entityType not in spec.entity_types:
        allowed = ", ".join(spec.entity_types) or "none"
        errors.append(
            FieldError(
                "entityType",
                "fits_event_type",
                f"{event.eventType} takes entity type {allowed}, not {event.entityType}",
            )
        )
    if (event.entityId is None) != (event.entityType is None):
        errors.append(
            FieldError(
                "entityId" if event.entityId is None else "entityType", "paired", "entityId and entityType go together"
            )
        )
    elif spec.entity_required and event.entityId is None:
        errors.append(FieldError("entityId", "required", f"{event.eventType} needs an entityId"))
    if errors:
        raise EventRejected("entity_type", errors)

    for key in event.props:
        if key[:1] == "_":
            raise EventRejected(
                "props",
                [FieldError(f"props.{key}", "reserved", "keys starting with '_' are reserved for the pipeline")],
            )

    occurred_raw = event.occurredAt
    occurred = occurred_raw or received_at
    sent = event.sentAt
    if sent is not None and occurred_raw is not None and abs(received_at - sent) <= rules.max_clock_skew:
        # A recent sentAt measures the client's clock error: what the client timed between occurrence and
        # sending is kept, its clock is not. An old sentAt is a replay or an import: its times stand as sent.
        try:
            occurred = occurred_raw + (received_at - sent)
        except OverflowError:
            raise EventRejected(
                "timestamp",
                [FieldError("sentAt", "range", "occurredAt corrected by sentAt falls outside the calendar")],
            ) from None
    if occurred > received_at + rules.max_future:
        raise EventRejected(
            "timestamp",
            [
                FieldError(
                    "occurredAt", "not_future", f"more than {int(rules.max_future.total_seconds())} s in the future"
                )
            ],
        )
    if occurred < received_at - rules.max_age and event.source not in rules.backfill_sources:
        raise EventRejected(
            "timestamp",
            [
                FieldError(
                    "occurredAt",
                    "max_age",
                    f"older than {rules.max_age.days} days; send it with a backfill source "
                    f"({', '.join(rules.backfill_sources)})",
                )
            ],
        )

    try:
        # The validator and serializer themselves: model_validate / model_dump add ~0.5 µs of Python around them.
        model = spec.props.__pydantic_validator__.validate_python(event.props)
        props = spec.props.__pydantic_serializer__.to_python(model, mode="json")
    except ValidationError as exc:
        raise EventRejected("props", _pydantic_errors(exc, "props.")) from None
    props = {k: v for k, v in props.items() if v is not None or k in event.props}

    return {
        "event_type": event.eventType,
        "source": event.source,
        "occurred_at": received_at_iso if occurred is received_at and received_at_iso else iso_utc(occurred),
        "client_occurred_at": iso_utc(occurred_raw) if occurred_raw else None,
        "sent_at": iso_utc(event.sentAt) if event.sentAt else None,
        "actor_id": event.actorId,
        "actor_type": event.actorType or ("user" if event.actorId else None),
        "session_id": event.sessionId,
        "entity_id": event.entityId,
        "entity_type": event.entityType,
        "props": props,
        "attribution": {k: v for k, v in event.attribution.items() if v is not None} if event.attribution else {},
        "idempotency_key": event.idempotencyKey,
        "user_agent": event.userAgent or user_agent,
        "ip_address": ip_address,
    }


def iso_utc(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def now_utc() -> datetime:
    return datetime.now(timezone.utc)
