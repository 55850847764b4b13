-- One replay's verdicts, set-based: parallel arrays (row id, outcome, event id, reason, detail).
-- replayed_at is set only when the event went back on the stream. The guard on replay_outcome keeps a row another replay already marked replayed as it is.
UPDATE analytics.rejected_events AS r
SET replay_outcome = v.outcome,
    replay_event_id = v.event_id,
    replay_reason = v.reason,
    replay_detail = v.detail,
    replay_run_id = %(run_id)s,
    replayed_at = CASE WHEN v.outcome = 'rejected' THEN r.replayed_at ELSE %(at)s::timestamptz END,
    replay_count = r.replay_count + 1
FROM unnest(%(ids)s::bigint[], %(outcomes)s::text[], %(event_ids)s::uuid[], %(reasons)s::text[],
            %(details)s::jsonb[]) AS v (id, outcome, event_id, reason, detail)
WHERE r.id = v.id
  AND (r.replay_outcome IS NULL OR r.replay_outcome = 'rejected')
