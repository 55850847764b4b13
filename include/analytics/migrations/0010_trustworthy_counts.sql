-- Trustworthy counts (issue #14).

-- An event with neither actor nor session has no fingerprint: nothing identifies its sender, so it is never
-- fingerprint-deduplicated (the collector sends NULL instead of a hash of empty fields).
ALTER TABLE analytics.events ALTER COLUMN fingerprint DROP NOT NULL;

-- Idempotency keys are kept for ANALYTICS_IDEMPOTENCY_KEYS_RETENTION_DAYS, not forever: the daily
-- retention deletes by age, which needs this index on a table that grows at event rate.
CREATE INDEX IF NOT EXISTS idempotency_keys_created_at_idx ON analytics.idempotency_keys (created_at);
