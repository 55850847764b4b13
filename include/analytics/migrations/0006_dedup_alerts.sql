-- Nightly deduplication and monitor alerts (issue #6): additive, except that the dedup scan index
-- replaces 0002's narrower one.

-- The nightly job's scan: every column it orders and filters on, in window order, so the scan is an
-- index-only walk with no sort (benchmark: bench/dedup_bench.py). Events with neither actor nor
-- session are never deduplicated and stay out of it.
-- It supersedes 0002's events_dedup_idx (same leading columns, no id/received_at): dropping that
-- one keeps the cost of marking (one index entry per index per marked row) where it was.
DROP INDEX IF EXISTS analytics.events_dedup_idx;
CREATE INDEX IF NOT EXISTS events_dedup_scan_idx
    ON analytics.events (event_type, actor_id, session_id, entity_id, occurred_at, id) INCLUDE (received_at)
    WHERE actor_id IS NOT NULL OR session_id IS NOT NULL;

-- What analysts query: every event except the ones the nightly job marked as duplicates.
CREATE OR REPLACE VIEW analytics.events_deduplicated AS
    SELECT * FROM analytics.events WHERE NOT (props_json ? '_duplicate');

-- One open alert per monitored condition: the monitor's cooldown and "resolved" logic key on it.
-- Task-failure alerts are one row per failed try and are excluded.
CREATE UNIQUE INDEX IF NOT EXISTS alerts_open_condition_key ON analytics.alerts (alert_key)
    WHERE state = 'firing' AND kind <> 'task_failed';

ALTER TABLE analytics.alerts ADD COLUMN IF NOT EXISTS send_count integer NOT NULL DEFAULT 1;
