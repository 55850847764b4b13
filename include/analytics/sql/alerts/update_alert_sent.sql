UPDATE analytics.alerts
SET last_sent_at = %(at)s, send_count = send_count + 1, message = %(message)s, details = %(details)s,
    channels = channels || %(channels)s
WHERE id = %(id)s
