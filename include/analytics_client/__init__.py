"""Python client for the analytics collector: event helpers and a background-batching sender.

Depends on the shared schema (`analytics.events`, `analytics.registry`: pydantic only), never on Airflow or Flask.
"""

from analytics_client.client import Client, ClientStats, DeliveryError
from analytics_client.helpers import (
    AssetEventHelpers,
    EngagementEventHelpers,
    EventRejected,
    LicenseEventHelpers,
    PaymentEventHelpers,
    ProjectEventHelpers,
    UserEventHelpers,
    build_event,
    validate_event,
)

__all__ = [
    "AssetEventHelpers",
    "Client",
    "ClientStats",
    "DeliveryError",
    "EngagementEventHelpers",
    "EventRejected",
    "LicenseEventHelpers",
    "PaymentEventHelpers",
    "ProjectEventHelpers",
    "UserEventHelpers",
    "build_event",
    "validate_event",
]
