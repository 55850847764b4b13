-- Old loader runs, except the newest and, per stream, the one holding its highest watermark: downstream DAGs wait
-- on the lowest of the streams' highest watermarks (load/select_watermark.sql), which must never go backwards or
-- vanish.
DELETE FROM analytics.load_runs
WHERE finished_at < %(before)s
  AND id <> (SELECT max(id) FROM analytics.load_runs)
  AND id NOT IN (SELECT DISTINCT ON (stream) id FROM analytics.load_runs
                 WHERE watermark IS NOT NULL ORDER BY stream, watermark DESC, id DESC)
