-- Record the staged rows insert_events left out because an earlier event holds their idempotency key (an entry
-- whose own id holds it was loaded before: a replay, not a drop); a replay records nothing twice.
INSERT INTO analytics.dropped_events (id, received_at, reason, source, idempotency_key, kept_id)
SELECT s.id, s.received_at, 'idempotency_key', s.source, s.idempotency_key, k.event_id
FROM events_stage s
JOIN analytics.idempotency_keys k ON k.source = s.source AND k.idempotency_key = s.idempotency_key
WHERE k.event_id <> s.id
ON CONFLICT DO NOTHING
