-- The last pass's view of the streams checked now, locked so that two passes never record one loss twice.
SELECT stream, entries_added, last_id, marker, undelivered, pending, observed_at
FROM analytics.stream_marks
WHERE stream = ANY(%(streams)s::text[])
FOR UPDATE
