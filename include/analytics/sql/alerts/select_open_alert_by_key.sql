-- The open alert of one key (a failing task or DAG): the columns of select_open_alerts.sql.
SELECT id, kind, alert_key, severity, title, message, details, created_at, last_sent_at, send_count, dag_id
FROM analytics.alerts
WHERE state = 'firing' AND alert_key = %(alert_key)s
ORDER BY id
LIMIT 1
FOR UPDATE
