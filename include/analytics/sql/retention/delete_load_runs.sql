-- Old loader runs, except the newest and the one holding the highest watermark: downstream DAGs wait on
-- SELECT max(watermark) FROM analytics.load_runs, which must never go backwards or vanish.
DELETE FROM analytics.load_runs
WHERE finished_at < %(before)s
  AND id <> (SELECT max(id) FROM analytics.load_runs)
  AND id IS DISTINCT FROM (SELECT id FROM analytics.load_runs
                           WHERE watermark IS NOT NULL ORDER BY watermark DESC, id DESC LIMIT 1)
