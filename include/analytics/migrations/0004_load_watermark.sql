-- Loader bookkeeping: the watermark downstream jobs wait on, more per-run figures, partition retention.

-- watermark: every event with received_at < watermark is in analytics.events or analytics.rejected_events.
-- The loader derives it from Redis stream ids, which carry Redis' clock at XADD time:
--   min(oldest entry still pending in the consumer group, oldest entry not yet delivered to it,
--       Redis' time when the run last looked at the stream)  −  a margin
-- where the margin bounds the collector's receive→XADD gap (and clock skew between collector and Redis).
-- Entries are acknowledged only after their Postgres commit, so anything below that bound is committed.
-- Downstream readers use SELECT max(watermark) FROM analytics.load_runs.
ALTER TABLE analytics.load_runs
    ADD COLUMN watermark            timestamptz,
    ADD COLUMN consumer             text,
    ADD COLUMN batches              bigint NOT NULL DEFAULT 0,
    ADD COLUMN pending_left         bigint,
    ADD COLUMN collector_rejections bigint NOT NULL DEFAULT 0,
    ADD COLUMN trimmed              bigint NOT NULL DEFAULT 0;

COMMENT ON COLUMN analytics.load_runs.watermark IS
    'Every event with received_at < watermark is in analytics.events or analytics.rejected_events.';

CREATE INDEX load_runs_watermark_idx ON analytics.load_runs (watermark);

-- Retention: drop the daily partitions wholly before `cutoff` (and old rows parked in the default one).
CREATE FUNCTION analytics.drop_event_partitions_before(cutoff date)
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    part text;
BEGIN
    FOR part IN
        SELECT c.relname
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_class p ON p.oid = i.inhparent
        JOIN pg_namespace n ON n.oid = p.relnamespace
        WHERE n.nspname = 'analytics' AND p.relname = 'events'
          AND c.relname ~ '^events_[0-9]{8}$'
          AND to_date(substr(c.relname, 8), 'YYYYMMDD') < cutoff
        ORDER BY c.relname
    LOOP
        EXECUTE format('DROP TABLE analytics.%I', part);
        RETURN NEXT part;
    END LOOP;
    DELETE FROM analytics.events_default WHERE received_at < cutoff::timestamp AT TIME ZONE 'UTC';
END;
$$;
