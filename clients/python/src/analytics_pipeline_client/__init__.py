"""Python client for the analytics collector: event helpers and a background-batching sender.

Its own distribution (`analytics-pipeline-client`, clients/python): Python 3.9+, pydantic only. It holds the
event schema (`schema`, `registry`) the collector itself validates with, never the pipeline (Airflow, Flask).
"""

from analytics_pipeline_client.client import Client, ClientStats, DeliveryError
from analytics_pipeline_client.helpers import (
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
