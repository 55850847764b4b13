-- The most recent loader run (analytics.load_runs, migration 0002).
SELECT run_id, started_at, finished_at, entries_read, inserted, already_present, rejected, reclaimed,
       lag_left, max_received_at, duration_ms
FROM analytics.load_runs
ORDER BY finished_at DESC, id DESC
LIMIT 1
