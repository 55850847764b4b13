-- Nightly deduplication and monitor alerts (issue #6). Additive only.

-- Marked duplicates are few: this partial index makes "how many did the nightly job mark in
-- [start, end)" (the monitor's nightly rate) and "show me the duplicates" cheap.
CREATE INDEX IF NOT EXISTS events_duplicate_received_idx ON analytics.events (received_at)
    WHERE props_json ? '_duplicate';

-- What analysts query: every event except the ones the nightly job marked as duplicates.
CREATE OR REPLACE VIEW analytics.events_deduplicated AS
    SELECT * FROM analytics.events WHERE NOT (props_json ? '_duplicate');

-- One open alert per monitored condition: the monitor's cooldown and "resolved" logic key on it.
-- Task-failure alerts are one row per failed try and are excluded.
CREATE UNIQUE INDEX IF NOT EXISTS alerts_open_condition_key ON analytics.alerts (alert_key)
    WHERE state = 'firing' AND kind <> 'task_failed';

ALTER TABLE analytics.alerts ADD COLUMN IF NOT EXISTS send_count integer NOT NULL DEFAULT 1;
