-- Old batch-job runs, except each job's latest (the monitor and the dashboard read it).
DELETE FROM analytics.job_runs r
WHERE r.finished_at < %(before)s
  AND EXISTS (SELECT 1 FROM analytics.job_runs n WHERE n.job = r.job AND n.id > r.id)
