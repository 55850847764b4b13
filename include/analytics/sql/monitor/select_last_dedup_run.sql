-- The latest nightly deduplication run (written by analytics.dedup).
SELECT run_id, interval_start, interval_end, finished_at, stats
FROM analytics.job_runs
WHERE job = 'dedup'
ORDER BY finished_at DESC, id DESC
LIMIT 1
