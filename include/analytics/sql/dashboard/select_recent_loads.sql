-- The latest loader runs (analytics.load_runs), newest first.
SELECT run_id, started_at, finished_at, entries_read, inserted, already_present, rejected, reclaimed,
       lag_left, max_received_at, duration_ms
FROM analytics.load_runs
ORDER BY finished_at DESC, id DESC
LIMIT %(limit)s
