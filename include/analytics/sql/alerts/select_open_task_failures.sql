-- Open failure alerts of one task (one map index) that a success of run %(run_id)s, due at %(run_after)s, ends:
-- the same run's, or an earlier-due run's (alerts from before runAfter was recorded count as earlier).
-- The columns of select_open_alerts.sql.
SELECT id, kind, alert_key, severity, title, message, details, created_at, last_sent_at, send_count, dag_id
FROM analytics.alerts
WHERE state = 'firing' AND kind = 'task_failed' AND dag_id = %(dag_id)s AND task_id = %(task_id)s
  AND coalesce((details->>'mapIndex')::int, -1) = %(map_index)s
  AND (run_id = %(run_id)s OR %(run_after)s::timestamptz IS NULL OR details->>'runAfter' IS NULL
       OR (details->>'runAfter')::timestamptz <= %(run_after)s::timestamptz)
ORDER BY id
FOR UPDATE
