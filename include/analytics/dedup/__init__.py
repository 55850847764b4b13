"""dedup: the nightly deduplication of analytics.events by the shared duplicate rule (marks, never deletes).
May import: load, collect, the core."""
