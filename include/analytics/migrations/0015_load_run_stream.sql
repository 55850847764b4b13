-- Sharded streams (ANALYTICS_STREAM_SHARDS, docs/SCALING.md): events_load runs one loader per stream, each
-- recording its own row. The watermark downstream jobs wait on is the lowest over the streams of each stream's
-- highest watermark (sql/load/select_watermark.sql); rows written before this migration (stream NULL) were the
-- unsharded stream's.
ALTER TABLE analytics.load_runs ADD COLUMN stream text;

COMMENT ON COLUMN analytics.load_runs.stream IS 'The Redis stream this run drained (NULL: before 0015, unsharded).';
