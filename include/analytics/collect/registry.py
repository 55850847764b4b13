"""Event types, entity types and sources: defined once, with the client (`analytics_pipeline_client.registry`)."""

from __future__ import annotations

from analytics_pipeline_client.registry import ENTITY_TYPES, EVENT_TYPES, SOURCES, EntityType, EventType, Props

__all__ = ["ENTITY_TYPES", "EVENT_TYPES", "SOURCES", "EntityType", "EventType", "Props"]
