-- Resolved alerts past retention; a firing one stays whatever its age.
DELETE FROM analytics.alerts WHERE state = 'resolved' AND resolved_at < %(before)s
