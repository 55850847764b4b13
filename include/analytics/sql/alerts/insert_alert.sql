INSERT INTO analytics.alerts
    (kind, alert_key, severity, state, title, message, details, dag_id, task_id, run_id, log_url, channels,
     created_at, last_sent_at, resolved_at)
VALUES
    (%(kind)s, %(alert_key)s, %(severity)s, %(state)s, %(title)s, %(message)s, %(details)s, %(dag_id)s,
     %(task_id)s, %(run_id)s, %(log_url)s, %(channels)s, %(at)s, %(at)s,
     CASE WHEN %(state)s = 'resolved' THEN %(at)s END)
RETURNING id
