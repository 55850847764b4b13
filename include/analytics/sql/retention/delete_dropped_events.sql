-- Old records of events the loader dropped for an idempotency key an earlier event holds.
DELETE FROM analytics.dropped_events WHERE received_at < %(before)s
