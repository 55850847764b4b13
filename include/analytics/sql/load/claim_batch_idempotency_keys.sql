-- Claim the idempotency keys of a batch not yet staged (arrays, one element per keyed event) and return
-- every key's owner: the first event loaded with a (source, key) owns it forever (see claim_idempotency_keys).
WITH batch AS (
    SELECT DISTINCT ON (source, idempotency_key) source, idempotency_key, id
    FROM unnest(%(sources)s::text[], %(keys)s::text[], %(ids)s::uuid[], %(received_at)s::timestamptz[])
         AS b (source, idempotency_key, id, received_at)
    ORDER BY source, idempotency_key, received_at, id
), claimed AS (
    INSERT INTO analytics.idempotency_keys (source, idempotency_key, event_id)
    SELECT source, idempotency_key, id FROM batch
    ON CONFLICT DO NOTHING
    RETURNING source, idempotency_key, event_id
)
SELECT source, idempotency_key, event_id::text FROM claimed
UNION ALL
-- The statement's snapshot predates its own insert: these are the keys owned before this batch.
SELECT k.source, k.idempotency_key, k.event_id::text
FROM analytics.idempotency_keys k
JOIN batch b USING (source, idempotency_key)
