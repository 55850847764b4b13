-- The loader's watermark (sql/load/select_watermark.sql) is each loaded stream's highest watermark: read twice per
-- events_monitor pass, by the dashboard, and polled by the batch DAGs' wait_for_loader sensors. Grouping every run
-- by stream scanned and sorted the whole table (a row per stream per minute: 86,400 rows for 60 days of one stream,
-- ~70 ms a read, more per shard); this index answers each stream's max(watermark), and the pre-0015 runs' (stream
-- NULL; retention keeps the one holding the highest watermark forever), with one probe. One entry per loader run.
CREATE INDEX IF NOT EXISTS load_runs_stream_watermark_idx ON analytics.load_runs (stream, watermark);
