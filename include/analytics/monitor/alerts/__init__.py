"""Alerts: the failure notifier, channels, and the monitor's deduplicated firing/resolved state."""

from analytics.monitor.alerts.model import Alert

__all__ = ["Alert"]
