-- Losses seen in the alert's window, newest first per stream.
SELECT stream, detected_at, marker_lost, entries_added_before, entries_added_after, last_id_before, last_id_after,
       observed_before_at, undelivered_before, pending_before
FROM analytics.stream_losses
WHERE stream = ANY(%(streams)s::text[]) AND detected_at > %(since)s AND detected_at <= %(now)s
ORDER BY stream, detected_at DESC
