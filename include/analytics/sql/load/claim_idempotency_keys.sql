-- The first event loaded with a (source, key) owns it forever; later ones with the same key are duplicates.
INSERT INTO analytics.idempotency_keys (source, idempotency_key, event_id)
SELECT DISTINCT ON (source, idempotency_key) source, idempotency_key, id
FROM events_stage
WHERE idempotency_key IS NOT NULL
ORDER BY source, idempotency_key, received_at, id
ON CONFLICT DO NOTHING
