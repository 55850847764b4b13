"""The collector's side of the event schema: the schema itself (shared with the client, in
`analytics_pipeline_client.schema`), plus what only the pipeline needs (fingerprint, ids, client addresses)."""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import json
from typing import Any

import orjson
import uuid_utils

# The one schema, re-exported so the pipeline keeps importing it from here.
from analytics_pipeline_client.schema import (
    MAX_PROPS_BYTES,
    MAX_PROPS_DEPTH,
    MAX_PROPS_KEYS,
    Attribution,
    AwareDatetime,
    EventIn,
    EventRejected,
    FieldError,
    Rules,
    _shape,
    iso_utc,
    normalise,
    now_utc,
    parse_event,
)

__all__ = [
    "MAX_PROPS_BYTES",
    "MAX_PROPS_DEPTH",
    "MAX_PROPS_KEYS",
    "Attribution",
    "AwareDatetime",
    "EventIn",
    "EventRejected",
    "FieldError",
    "Rules",
    "_shape",
    "canonical_json",
    "fingerprint",
    "inet_address",
    "iso_utc",
    "new_event_id",
    "normalise",
    "now_utc",
    "parse_event",
]


def canonical_json(value: Any) -> str:
    """JSON text with the keys sorted at every level ("{}" when empty): equal objects, equal text."""
    if not value:
        return "{}"
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:  # integers beyond 64 bits, lone surrogates (refused later, by the COPY line)
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def fingerprint(record: dict[str, Any]) -> str | None:
    """Same type, actor, session, entity, source, second of occurrence and props = the same event.

    None without actor and session: nothing identifies the sender, so such events are never collapsed.
    Reuses the record's `props_json` (its canonical props text) when `Ingestor.prepare` set it."""
    actor, session = record.get("actor_id"), record.get("session_id")
    if actor is None and session is None:
        return None
    props = record.get("props_json") or canonical_json(record["props"])
    key = "\x1f".join(
        (
            record["event_type"],
            actor or "",
            session or "",
            record.get("entity_id") or "",
            record["source"],
            record["occurred_at"][:19],  # ISO 8601 truncated to whole seconds
            props,
        )
    )
    try:
        data = key.encode()
    except UnicodeEncodeError:  # a lone surrogate: the COPY line refuses the event right after
        data = key.encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=16).hexdigest()


@functools.lru_cache(maxsize=4096)  # a client's address repeats request after request
def inet_address(text: str) -> str | None:
    """`text` as PostgreSQL's inet stores it, or None when it is not a plain IP address.

    A proxy's hop may be anything (a name, "unknown", an address with a port or an IPv6 zone): the event
    is still accepted, with no address, rather than accepted and then refused by the loader's inet column."""
    if "%" in text:  # IPv6 zone ids: Python accepts them, inet does not
        return None
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def new_event_id() -> str:
    return str(uuid_utils.uuid7())
