INSERT INTO analytics.events
SELECT s.*
FROM events_stage s
WHERE s.idempotency_key IS NULL
   OR EXISTS (SELECT 1 FROM analytics.idempotency_keys k
              WHERE k.source = s.source AND k.idempotency_key = s.idempotency_key AND k.event_id = s.id)
ON CONFLICT (id, received_at) DO NOTHING
