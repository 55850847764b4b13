-- Kept rejections of one stage to replay: never those already replayed (or found duplicate), oldest first.
-- `reason` matches the row's current reason: the last replay's when it was refused again, else the original.
SELECT id, payload, rejected_at
FROM analytics.rejected_events
WHERE stage = %(stage)s
  AND (replay_outcome IS NULL OR replay_outcome = 'rejected')
  AND (%(reason)s::text IS NULL OR coalesce(replay_reason, reason) = %(reason)s)
  AND rejected_at >= %(since)s
  AND rejected_at < %(until)s
  AND id > %(after_id)s
ORDER BY id
LIMIT %(limit)s
