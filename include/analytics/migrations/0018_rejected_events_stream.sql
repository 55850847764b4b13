-- A set-aside entry is known by its stream and its stream id. Stream ids are per stream ("<ms>-<seq>"): with
-- ANALYTICS_STREAM_SHARDS > 1 two shards (or two shards' rejected streams) appending in the same millisecond give
-- the same id, and the old key (stage, stream_id) kept only the first of two such rejections: the second was lost
-- (ON CONFLICT DO NOTHING) and events_missing paged for it. Rows from before this migration keep stream ''.
ALTER TABLE analytics.rejected_events ADD COLUMN IF NOT EXISTS stream text NOT NULL DEFAULT '';
CREATE UNIQUE INDEX IF NOT EXISTS rejected_events_stream_entry_key
    ON analytics.rejected_events (stage, stream, stream_id) WHERE stream_id IS NOT NULL;
DROP INDEX IF EXISTS analytics.rejected_events_stream_id_key;
