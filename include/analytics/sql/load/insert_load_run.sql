INSERT INTO analytics.load_runs (run_id, started_at, finished_at, entries_read, inserted, already_present,
                                 rejected, reclaimed, lag_left, max_received_at, duration_ms)
VALUES (%(run_id)s, %(started_at)s, %(finished_at)s, %(entries_read)s, %(inserted)s, %(already_present)s,
        %(rejected)s, %(reclaimed)s, %(lag_left)s, %(max_received_at)s, %(duration_ms)s)
