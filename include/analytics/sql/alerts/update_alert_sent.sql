UPDATE analytics.alerts
SET last_sent_at = %(at)s, send_count = send_count + 1, title = %(title)s, message = %(message)s,
    details = %(details)s, channels = channels || %(channels)s,
    run_id = coalesce(%(run_id)s, run_id), log_url = coalesce(%(log_url)s, log_url)
WHERE id = %(id)s
