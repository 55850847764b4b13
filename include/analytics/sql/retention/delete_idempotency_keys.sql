-- Keys older than their retention: a retry sent after it would be stored again (Redis forgot it after 1 h).
DELETE FROM analytics.idempotency_keys WHERE created_at < %(before)s
