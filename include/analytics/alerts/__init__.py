"""Alerts: the failure notifier, channels, and the monitor's deduplicated firing/resolved state."""

from analytics.alerts.model import Alert

__all__ = ["Alert"]
