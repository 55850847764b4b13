UPDATE analytics.alerts
SET state = 'resolved', resolved_at = %(at)s, channels = channels || %(channels)s
WHERE id = %(id)s AND state = 'firing'
