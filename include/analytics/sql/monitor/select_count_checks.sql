-- The hours checked since `since` (check_counts): their figures at their last check.
SELECT hour, accepted, stored, dropped, set_aside, missing, checked_at
FROM analytics.count_checks
WHERE hour >= %(since)s
ORDER BY hour
