-- The open "run failed, no task said why" alert of one DAG (key %(alert_key)s) that a successful run %(run_id)s,
-- due at %(run_after)s, ends: the same run's, or one of a run due no later. The columns of select_open_alerts.sql.
SELECT id, kind, alert_key, severity, title, message, details, created_at, last_sent_at, send_count, dag_id
FROM analytics.alerts
WHERE state = 'firing' AND alert_key = %(alert_key)s
  AND (run_id = %(run_id)s OR %(run_after)s::timestamptz IS NULL OR details->>'runAfter' IS NULL
       OR (details->>'runAfter')::timestamptz <= %(run_after)s::timestamptz)
ORDER BY id
FOR UPDATE
