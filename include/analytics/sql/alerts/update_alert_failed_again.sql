-- A failure of something already paged, inside the cooldown: the row follows the latest failure, nobody is paged.
UPDATE analytics.alerts
SET message = %(message)s, details = %(details)s,
    run_id = coalesce(%(run_id)s, run_id), log_url = coalesce(%(log_url)s, log_url)
WHERE id = %(id)s
