-- The latest alerts, newest first, with the firing count over all of them.
SELECT id, kind, alert_key, severity, state, title, message, dag_id, task_id, run_id, log_url,
       created_at, last_sent_at, resolved_at,
       (SELECT count(*) FROM analytics.alerts WHERE state = 'firing') AS firing_total
FROM analytics.alerts
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s
