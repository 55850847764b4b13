-- Take back rows a direct COPY wrote in this transaction that lost their idempotency key to an earlier event.
DELETE FROM analytics.events e
USING unnest(%(ids)s::uuid[], %(received_at)s::timestamptz[]) AS d (id, received_at)
WHERE e.id = d.id AND e.received_at = d.received_at
