-- The latest run of one batch job (analytics.job_runs).
SELECT job, run_id, interval_start, interval_end, started_at, finished_at, stats
FROM analytics.job_runs
WHERE job = %(job)s
ORDER BY finished_at DESC, id DESC
LIMIT 1
