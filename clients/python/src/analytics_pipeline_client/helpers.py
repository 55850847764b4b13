"""Builders for the common events, validated with the collector's own schema and registry.

Each method returns the event as `POST /v1/track` takes it; bound to a `Client`, it also sends it.
A shape the collector would reject (unknown field, wrong props, entity of the wrong type) raises
`EventRejected` here, in the caller's stack, instead of being dropped later.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from analytics_pipeline_client.registry import SOURCES
from analytics_pipeline_client.schema import EventRejected, Rules, normalise, now_utc, parse_event

if TYPE_CHECKING:
    from analytics_pipeline_client.client import Client

__all__ = [
    "AssetEventHelpers",
    "EngagementEventHelpers",
    "EventRejected",
    "LicenseEventHelpers",
    "PaymentEventHelpers",
    "ProjectEventHelpers",
    "UserEventHelpers",
    "build_event",
    "validate_event",
]


@lru_cache(maxsize=16)
def _shape_rules(extra_sources: tuple[str, ...], env_sources: str) -> Rules:
    """Shape only: how old or early an event may be is the collector's configuration, judged when it arrives.
    Sources: the registered ones, those this process's ANALYTICS_EXTRA_SOURCES adds (the collector's setting of
    the same name), and the caller's own."""
    env = (s.strip() for s in env_sources.split(","))
    return Rules(
        max_age=timedelta(days=36_500),
        max_future=timedelta(days=36_500),
        sources=frozenset((*SOURCES, *(s for s in env if s), *extra_sources)),
    )


def validate_event(event: dict[str, Any], *, extra_sources: Iterable[str] = ()) -> dict[str, Any]:
    """Run the collector's schema, entity and props checks on `event`; return it unchanged.

    `extra_sources`: sources the collector accepts besides the registered ones (its ANALYTICS_EXTRA_SOURCES)."""
    rules = _shape_rules(tuple(extra_sources), os.environ.get("ANALYTICS_EXTRA_SOURCES", ""))
    normalise(parse_event(event), received_at=now_utc(), rules=rules)
    return event


def build_event(
    event_type: str,
    *,
    source: str,
    actor_id: str | None = None,
    actor_type: str | None = None,
    entity_id: str | None = None,
    entity_type: str | None = None,
    props: dict[str, Any] | None = None,
    session_id: str | None = None,
    occurred_at: datetime | None = None,
    attribution: dict[str, str] | None = None,
    idempotency_key: str | None = None,
    user_agent: str | None = None,
    extra_sources: Iterable[str] = (),
) -> dict[str, Any]:
    """One validated event input; None-valued props and fields are left out."""
    event: dict[str, Any] = {"eventType": event_type, "source": source}
    attribution = {k: v for k, v in (attribution or {}).items() if v is not None} or None
    for name, value in (
        ("actorId", actor_id),
        ("actorType", actor_type),
        ("entityId", entity_id),
        ("entityType", entity_type),
        ("sessionId", session_id),
        ("occurredAt", occurred_at.isoformat() if occurred_at else None),
        ("attribution", attribution),
        ("idempotencyKey", idempotency_key),
        ("userAgent", user_agent),
    ):
        if value is not None:
            event[name] = value
    event["props"] = {k: v for k, v in (props or {}).items() if v is not None}
    return validate_event(event, extra_sources=extra_sources)


class _Helpers:
    """Shared plumbing: the source every event gets, and the optional client that sends it."""

    def __init__(self, client: Client | None = None, *, source: str = "server"):
        self.client = client
        self.source = source

    def _emit(
        self,
        event_type: str,
        actor_id: str | None,
        entity: tuple[str, str] | None,
        props: dict[str, Any],
        common: dict[str, Any],
    ) -> dict[str, Any]:
        extra = common.pop("props", None) or {}
        event = build_event(
            event_type,
            source=common.pop("source", None) or self.source,
            actor_id=actor_id,
            entity_id=entity[1] if entity else None,
            entity_type=entity[0] if entity else None,
            props={**extra, **props},
            extra_sources=self.client.extra_sources if self.client is not None else (),
            **common,
        )
        if self.client is not None:
            self.client.track(event)
        return event


# Every method also takes, by keyword: session_id, occurred_at, attribution, idempotency_key, user_agent,
# actor_type, source (overrides the helper's) and props (extra properties, kept as sent).


class AssetEventHelpers(_Helpers):
    def upload(
        self,
        actor_id: str,
        asset_id: str,
        *,
        media_type: str | None = None,
        size_bytes: int | None = None,
        file_name: str | None = None,
        project_id: str | None = None,
        **common: Any,
    ) -> dict[str, Any]:
        props = {"mediaType": media_type, "sizeBytes": size_bytes, "fileName": file_name, "projectId": project_id}
        return self._emit("asset_uploaded", actor_id, ("asset", asset_id), props, common)

    def view(
        self,
        actor_id: str | None,
        asset_id: str,
        *,
        view_duration_ms: int | None = None,
        position: int | None = None,
        **common: Any,
    ) -> dict[str, Any]:
        props = {"viewDurationMs": view_duration_ms, "position": position}
        return self._emit("asset_viewed", actor_id, ("asset", asset_id), props, common)

    def download(
        self,
        actor_id: str,
        asset_id: str,
        *,
        format: str | None = None,
        resolution: str | None = None,
        license_id: str | None = None,
        **common: Any,
    ) -> dict[str, Any]:
        props = {"format": format, "resolution": resolution, "licenseId": license_id}
        return self._emit("asset_downloaded", actor_id, ("asset", asset_id), props, common)

    def approve(
        self, actor_id: str, asset_id: str, *, reviewer_id: str | None = None, note: str | None = None, **common: Any
    ) -> dict[str, Any]:
        props = {"reviewerId": reviewer_id, "note": note}
        return self._emit("asset_approved", actor_id, ("asset", asset_id), props, common)


class LicenseEventHelpers(_Helpers):
    def create(
        self,
        actor_id: str,
        license_id: str,
        *,
        license_type: str,
        price_cents: int,
        currency: str = "USD",
        asset_id: str | None = None,
        **common: Any,
    ) -> dict[str, Any]:
        props = {"licenseType": license_type, "priceCents": price_cents, "currency": currency, "assetId": asset_id}
        return self._emit("license_created", actor_id, ("license", license_id), props, common)

    def sign(
        self,
        actor_id: str,
        license_id: str,
        *,
        signer_id: str | None = None,
        signature_method: str | None = None,
        **common: Any,
    ) -> dict[str, Any]:
        props = {"signerId": signer_id, "signatureMethod": signature_method}
        return self._emit("license_signed", actor_id, ("license", license_id), props, common)

    def view(
        self, actor_id: str | None, license_id: str, *, view_duration_ms: int | None = None, **common: Any
    ) -> dict[str, Any]:
        props = {"viewDurationMs": view_duration_ms}
        return self._emit("license_viewed", actor_id, ("license", license_id), props, common)


class ProjectEventHelpers(_Helpers):
    def create(
        self, actor_id: str, project_id: str, *, name: str | None = None, template: str | None = None, **common: Any
    ) -> dict[str, Any]:
        props = {"name": name, "template": template}
        return self._emit("project_created", actor_id, ("project", project_id), props, common)

    def complete(
        self,
        actor_id: str,
        project_id: str,
        *,
        asset_count: int | None = None,
        duration_days: float | None = None,
        **common: Any,
    ) -> dict[str, Any]:
        props = {"assetCount": asset_count, "durationDays": duration_days}
        return self._emit("project_completed", actor_id, ("project", project_id), props, common)


class PaymentEventHelpers(_Helpers):
    def payout_completed(
        self,
        actor_id: str | None,
        payout_id: str,
        *,
        amount_cents: int,
        currency: str = "USD",
        method: str | None = None,
        **common: Any,
    ) -> dict[str, Any]:
        props = {"amountCents": amount_cents, "currency": currency, "method": method}
        return self._emit("payout_completed", actor_id, ("payout", payout_id), props, common)

    def payout_failed(
        self,
        actor_id: str | None,
        payout_id: str,
        *,
        amount_cents: int,
        failure_reason: str,
        currency: str = "USD",
        retryable: bool | None = None,
        **common: Any,
    ) -> dict[str, Any]:
        props = {"amountCents": amount_cents, "currency": currency, "failureReason": failure_reason}
        props["retryable"] = retryable
        return self._emit("payout_failed", actor_id, ("payout", payout_id), props, common)


class UserEventHelpers(_Helpers):
    def login(
        self,
        user_id: str,
        *,
        method: str | None = None,
        success: bool = True,
        mfa: bool | None = None,
        **common: Any,
    ) -> dict[str, Any]:
        props = {"method": method, "success": success, "mfa": mfa}
        return self._emit("user_login", user_id, ("user", user_id), props, common)

    def profile_update(self, user_id: str, *, fields: list[str], **common: Any) -> dict[str, Any]:
        """`fields` names what changed; values stay out of analytics."""
        return self._emit("user_profile_updated", user_id, ("user", user_id), {"fields": list(fields)}, common)


class EngagementEventHelpers(_Helpers):
    def search(
        self,
        actor_id: str | None,
        query: str,
        *,
        results_count: int | None = None,
        filters: dict[str, Any] | None = None,
        entity: tuple[str, str] | None = None,
        **common: Any,
    ) -> dict[str, Any]:
        props = {"query": query, "resultsCount": results_count, "filters": filters}
        return self._emit("search_performed", actor_id, entity, props, common)

    def cta_click(
        self,
        actor_id: str | None,
        cta_id: str,
        *,
        label: str | None = None,
        location: str | None = None,
        entity: tuple[str, str] | None = None,
        **common: Any,
    ) -> dict[str, Any]:
        props = {"ctaId": cta_id, "label": label, "location": location}
        return self._emit("cta_clicked", actor_id, entity, props, common)

    def page_view(
        self,
        actor_id: str | None,
        path: str,
        *,
        title: str | None = None,
        url: str | None = None,
        entity: tuple[str, str] | None = None,
        **common: Any,
    ) -> dict[str, Any]:
        props = {"path": path, "title": title, "url": url}
        return self._emit("page_viewed", actor_id, entity, props, common)
