-- What each channel answered, once the alert the row records was sent.
UPDATE analytics.alerts SET channels = channels || %(channels)s WHERE id = %(id)s
