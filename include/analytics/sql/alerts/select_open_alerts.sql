SELECT id, kind, alert_key, severity, title, message, details, created_at, last_sent_at, send_count, dag_id
FROM analytics.alerts
WHERE state = 'firing' AND kind LIKE %(kind_prefix)s
ORDER BY id
FOR UPDATE
