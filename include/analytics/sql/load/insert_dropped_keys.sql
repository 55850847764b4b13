-- Record the rows a direct COPY took back because an earlier event holds their idempotency key (arrays, one
-- element per dropped event), with the event that holds it; a batch replayed after a crash records nothing twice.
INSERT INTO analytics.dropped_events (id, received_at, reason, source, idempotency_key, kept_id)
SELECT d.id, d.received_at, 'idempotency_key', d.source, d.idempotency_key, k.event_id
FROM unnest(%(ids)s::uuid[], %(received_at)s::timestamptz[], %(sources)s::text[], %(keys)s::text[])
     AS d (id, received_at, source, idempotency_key)
LEFT JOIN analytics.idempotency_keys k ON k.source = d.source AND k.idempotency_key = d.idempotency_key
ON CONFLICT DO NOTHING
