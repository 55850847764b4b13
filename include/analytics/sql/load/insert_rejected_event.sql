-- Idempotent on (stage, stream, stream_id): a copy replayed after a crash before XACK inserts nothing.
INSERT INTO analytics.rejected_events (stage, reason, detail, payload, source, event_type, stream, stream_id, rejected_at)
VALUES (%(stage)s, %(reason)s, %(detail)s, %(payload)s, %(source)s, %(event_type)s, %(stream)s, %(stream_id)s,
        coalesce(%(rejected_at)s::timestamptz, now()))
ON CONFLICT (stage, stream, stream_id) WHERE stream_id IS NOT NULL DO NOTHING
