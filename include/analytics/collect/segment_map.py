"""Segment / RudderStack messages → our event input (the shape `POST /v1/track` takes).

A `track` call maps by its event name: "Asset Viewed", "asset_viewed" and "asset-viewed" all mean
`asset_viewed`; `ALIASES` adds Segment's spec names ("Signed In", "Products Searched", …) and callers
add their own (`SegmentMapper(extra={"Video Played": "asset_viewed"})`, or the env var
`ANALYTICS_SEGMENT_EVENT_MAP="Video Played=asset_viewed,Checkout Started=cta_clicked"`).
`page` maps to `page_viewed`, `identify` to `user_profile_updated` (trait names only, never values).
Anything else raises `Unmapped`; the endpoint quarantines it with the reason.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from analytics.collect.registry import EVENT_TYPES

SOURCE = "segment"

# Segment's semantic-event names (segment.com/docs/connections/spec) that mean one of our types.
ALIASES: dict[str, str] = {
    "signed_in": "user_login",
    "logged_in": "user_login",
    "login": "user_login",
    "profile_updated": "user_profile_updated",
    "products_searched": "search_performed",
    "search": "search_performed",
    "searched": "search_performed",
    "cta_click": "cta_clicked",
    "button_clicked": "cta_clicked",
    "page_view": "page_viewed",
    "pageview": "page_viewed",
    "page_viewed": "page_viewed",
}

_CAMPAIGN = {
    "source": "utmSource",
    "medium": "utmMedium",
    "name": "utmCampaign",
    "term": "utmTerm",
    "content": "utmContent",
}
_CAMPAIGN_ITEMS = tuple(_CAMPAIGN.items())


class Unmapped(Exception):
    """The message has no event type of ours: quarantined, never guessed."""

    def __init__(self, reason: str, message: str, event_type: str | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.event_type = event_type


def key_of(name: str) -> str:
    """ "Asset Viewed", "asset-viewed", "assetViewed " → "asset_viewed"."""
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.strip())
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def parse_pairs(pairs: Iterable[str]) -> dict[str, str]:
    """["Video Played=asset_viewed", …] → {"Video Played": "asset_viewed"}; unknown targets are refused."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, target = pair.partition("=")
        if not sep or not name.strip() or target.strip() not in EVENT_TYPES:
            raise ValueError(
                f"segment event map entry {pair!r} must be 'Segment Name=event_type' with one of "
                f"{', '.join(sorted(EVENT_TYPES))}"
            )
        out[name.strip()] = target.strip()
    return out


_SEEN_MAX = 1024


@dataclass
class SegmentMapper:
    """Maps one Segment message to one event input; `extra` names override the built-in ones."""

    extra: Mapping[str, str] = field(default_factory=dict)
    source: str = SOURCE

    def __post_init__(self) -> None:
        self._names = {**ALIASES, **{key_of(k): v for k, v in self.extra.items()}}
        self._seen: dict[str, str | None] = {}
        unknown = sorted({v for v in self._names.values() if v not in EVENT_TYPES})
        if unknown:
            raise ValueError(f"segment event map targets unknown event types: {', '.join(unknown)}")

    def event_type_for(self, name: str) -> str | None:
        try:
            return self._seen[name]  # a site sends a handful of names: skip key_of's two regex passes
        except KeyError:
            pass
        key = key_of(name)
        found = self._names.get(key) or (key if key in EVENT_TYPES else None)
        if len(self._seen) >= _SEEN_MAX:
            self._seen.clear()  # bounded: arbitrary names from the internet cannot grow it
        if name.strip():  # `map` answers a blank name itself, before this cache
            self._seen[name] = found
        return found

    def map(self, msg: Any, sent_at: Any = None) -> dict[str, Any]:
        """One Segment message → an event input for `Ingestor.ingest`; raises `Unmapped`.

        Written for speed (it runs once per browser event, #16): one lookup per field, the entity keys of each event
        type worked out once, a shared empty dict for a missing context, and the usual "…Z" timestamps kept as they are;
        the unusual cases go through the helpers below."""
        if not isinstance(msg, dict):
            raise Unmapped("schema", "a message must be a JSON object")
        kind = msg.get("type")
        props = msg.get("properties")
        props = dict(props) if isinstance(props, dict) else {}
        context = msg.get("context")
        if not isinstance(context, dict):
            context = _EMPTY
        if kind == "track":
            name = msg.get("event")
            if not isinstance(name, str):
                raise Unmapped("schema", "a track call needs an event name")
            event_type = self._seen.get(name, _UNSEEN)
            if event_type is _UNSEEN:
                if not name.strip():
                    raise Unmapped("schema", "a track call needs an event name")
                event_type = self.event_type_for(name)
            if event_type is None:
                raise Unmapped(
                    "unmapped_event",
                    f"no event type for Segment event {name!r}; map it with ANALYTICS_SEGMENT_EVENT_MAP",
                    name,
                )
        elif kind in ("page", "screen"):
            event_type = "page_viewed"
            props = _page_props(msg, props, context)
        elif kind == "identify":
            event_type = "user_profile_updated"
            # RudderStack's SDK sends traits in context.traits, Segment's at the top level.
            traits = msg.get("traits") if isinstance(msg.get("traits"), dict) else context.get("traits")
            traits = traits if isinstance(traits, dict) else {}
            # Trait values are personal data the analytics store has no use for; which fields changed is enough.
            props = {"fields": sorted(str(k) for k in traits)[:50]}
        else:
            raise Unmapped("unsupported_call", f"Segment {kind!r} calls are not collected", kind)

        event: dict[str, Any] = {"eventType": event_type, "source": self.source}
        user_id = msg.get("userId")
        if user_id is None or user_id == "":
            user_id = None
            anonymous_id = msg.get("anonymousId")
            if anonymous_id is not None and anonymous_id != "":
                event["actorId"] = anonymous_id if type(anonymous_id) is str else str(anonymous_id)
                event["actorType"] = "anonymous"
        else:
            user_id = user_id if type(user_id) is str else str(user_id)
            event["actorId"], event["actorType"] = user_id, "user"
        entity_id, entity_type = _entity(event_type, props, user_id if kind == "identify" else None)
        if entity_id is not None:
            event["entityId"], event["entityType"] = entity_id, entity_type
        session = (props.pop("sessionId") if "sessionId" in props else None) or context.get("sessionId")
        if session is not None:
            event["sessionId"] = session if type(session) is str else str(session)
        event["props"] = props
        occurred = msg.get("timestamp") or msg.get("originalTimestamp")
        if not (type(occurred) is str and occurred[-1:] == "Z" and "T" in occurred):
            occurred = _timestamp(occurred)
        if occurred is not None:
            event["occurredAt"] = occurred
            sent = msg.get("sentAt") or sent_at
            if not (type(sent) is str and sent[-1:] == "Z" and "T" in sent):
                sent = _timestamp(sent)
            if sent is not None:
                event["sentAt"] = sent
        message_id = msg.get("messageId")
        if message_id is not None and message_id != "":
            message_id = message_id if type(message_id) is str else str(message_id)
            event["idempotencyKey"] = message_id if len(message_id) <= 128 else _digest(message_id)
        user_agent = context.get("userAgent")
        if isinstance(user_agent, str):
            event["userAgent"] = user_agent[:1024]
        if context and (attribution := _attribution(context)):
            event["attribution"] = attribution
        return event


_EMPTY: Mapping[str, Any] = MappingProxyType({})  # a message without a context: read, never written
_UNSEEN = object()
# Per event type, the props keys that name its entity, in the order `_entity` tries them.
_ENTITY_KEYS: dict[str, tuple[tuple[str, str], ...]] = {
    name: tuple((key, candidate) for candidate in spec.entity_types for key in (f"{candidate}Id", f"{candidate}_id"))
    for name, spec in EVENT_TYPES.items()
}


def _digest(value: str) -> str:
    return hashlib.blake2b(value.encode(), digest_size=32).hexdigest()


# A time that already says its offset ("…Z", "…+02:00", "…-0500"): the schema reads it as it is.
_HAS_OFFSET = re.compile(r"(?:[Zz]|[+-]\d\d:?\d\d)$")


def _timestamp(value: Any) -> Any:
    """ISO 8601 with an offset; a naive time is UTC, as Segment's API reads it. Unparseable passes through to fail."""
    if not isinstance(value, str) or not value:
        return value or None
    if _HAS_OFFSET.search(value) and "T" in value:
        return value  # analytics.js and the SDKs send "…Z": no need to parse it twice
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.isoformat()


def _entity(event_type: str, props: dict[str, Any], fallback_user: str | None) -> tuple[str | None, str | None]:
    """properties.entityId/entityType, else the first `<entity>Id` / `<entity>_id` the event type takes."""
    entity_id, entity_type = props.pop("entityId", None), props.pop("entityType", None)
    if entity_id is not None:
        if entity_type is None and len(EVENT_TYPES[event_type].entity_types) == 1:
            entity_type = EVENT_TYPES[event_type].entity_types[0]
        return str(entity_id), entity_type
    for key, candidate in _ENTITY_KEYS[event_type]:
        value = props.get(key)
        if value is not None and value != "":
            return (value if type(value) is str else str(value)), candidate
    if fallback_user is not None and "user" in EVENT_TYPES[event_type].entity_types:
        return fallback_user, "user"
    return None, None


def _page_props(msg: dict[str, Any], props: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    page = context.get("page") if isinstance(context.get("page"), dict) else {}
    url = props.get("url") or page.get("url")
    path = props.get("path") or page.get("path") or _path_of(url)
    out = {k: v for k, v in props.items() if k not in ("path", "url", "title")}
    if path:
        out["path"] = path
    if url:
        out["url"] = url
    title = props.get("title") or page.get("title") or msg.get("name")
    if title:
        out["title"] = title
    if msg.get("category"):
        out.setdefault("category", msg["category"])
    return out


def _path_of(url: Any) -> str | None:
    if not isinstance(url, str):
        return None
    try:
        return urlsplit(url).path or None
    except ValueError:  # e.g. an unclosed IPv6 bracket; the url itself then fails validation
        return None


def _attribution(context: Mapping[str, Any]) -> dict[str, str]:
    """context.campaign (else the utm_* of context.page.search) as UTM, context.page's referrer, and its url as the
    page the event happened on: the landing page when the event is its session's first."""
    page = context.get("page")
    if not isinstance(page, dict):
        page = _EMPTY
    campaign = context.get("campaign")
    if not isinstance(campaign, dict):
        campaign = _EMPTY
    if not campaign and isinstance(page.get("search"), str):
        query = parse_qs(page["search"].lstrip("?"))
        campaign = {("name" if k == "utm_campaign" else k[4:]): v[0] for k, v in query.items() if k.startswith("utm_")}
    out = {}
    if campaign:
        for theirs, ours in _CAMPAIGN_ITEMS:
            if value := campaign.get(theirs):
                out[ours] = (value if type(value) is str else str(value))[:256]
    if referrer := page.get("referrer"):
        out["referrer"] = (referrer if type(referrer) is str else str(referrer))[:2048]
    if url := page.get("url"):
        out["landingPage"] = (url if type(url) is str else str(url))[:2048]
    return out
