-- Claim the idempotency keys of a batch COPied straight into analytics.events (arrays, one element per
-- keyed event); returns the ids that won their key. The first event loaded with a (source, key) owns it
-- forever (see claim_idempotency_keys); the caller deletes the batch's rows that did not win.
-- Only fresh entries come this way (their ids were not in the table), so a key already owned by the same
-- id means that event was loaded and then dropped (retention): it is not brought back.
INSERT INTO analytics.idempotency_keys (source, idempotency_key, event_id)
SELECT DISTINCT ON (source, idempotency_key) source, idempotency_key, id
FROM unnest(%(sources)s::text[], %(keys)s::text[], %(ids)s::uuid[], %(received_at)s::timestamptz[])
     AS b (source, idempotency_key, id, received_at)
ORDER BY source, idempotency_key, received_at, id
ON CONFLICT DO NOTHING
RETURNING event_id::text
