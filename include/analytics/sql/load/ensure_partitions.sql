-- Daily partitions from `from_day` for `days` days (existing ones untouched; rows parked in the default moved).
SELECT analytics.ensure_event_partitions(%(from_day)s, %(days)s)
