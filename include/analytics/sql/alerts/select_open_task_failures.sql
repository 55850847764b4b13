-- Open failure alerts of one task (one map index): the columns of select_open_alerts.sql.
SELECT id, kind, alert_key, severity, title, message, details, created_at, last_sent_at, send_count, dag_id
FROM analytics.alerts
WHERE state = 'firing' AND kind = 'task_failed' AND dag_id = %(dag_id)s AND task_id = %(task_id)s
  AND coalesce((details->>'mapIndex')::int, -1) = %(map_index)s
ORDER BY id
FOR UPDATE
