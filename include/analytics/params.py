"""Parsing the values a person types into a DAG's trigger form."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_instant(value: datetime | str, name: str) -> datetime:
    """An ISO 8601 instant with its zone (`Z` or an offset), as UTC; a naive one is refused, never guessed."""
    at = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    if at.tzinfo is None:
        raise ValueError(f"{name} must carry a time zone (e.g. 2026-03-01T09:30:00Z), got {value!r}")
    return at.astimezone(UTC)
