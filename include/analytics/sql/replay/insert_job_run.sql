INSERT INTO analytics.job_runs (job, run_id, interval_start, interval_end, started_at, finished_at, stats)
VALUES ('replay', %(run_id)s, %(start)s, %(end)s, %(started_at)s, %(finished_at)s, %(stats)s)
