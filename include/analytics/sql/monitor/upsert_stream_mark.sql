INSERT INTO analytics.stream_marks (stream, entries_added, last_id, marker, undelivered, pending, observed_at)
VALUES (%(stream)s, %(entries_added)s, %(last_id)s, %(marker)s, %(undelivered)s, %(pending)s, %(now)s)
ON CONFLICT (stream) DO UPDATE
SET entries_added = EXCLUDED.entries_added,
    last_id = EXCLUDED.last_id,
    marker = EXCLUDED.marker,
    undelivered = EXCLUDED.undelivered,
    pending = EXCLUDED.pending,
    observed_at = EXCLUDED.observed_at
