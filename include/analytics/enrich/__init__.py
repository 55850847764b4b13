"""Hourly enrichment of loaded events: user agent, session context and entity snapshots."""
