"""enrich: hourly enrichment of loaded events per data interval (user agent, session context, entity snapshots).
May import: load, collect, the core."""
