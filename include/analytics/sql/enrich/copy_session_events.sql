-- The interval's session events, narrow (the keys the per-session aggregate needs), as CSV for pandas
-- (analytics/enrich/sessions.py). Empty session ids are no session; an empty actor id is no actor. A duplicate (marked
-- by the nightly job) is not counted.
COPY (
    SELECT session_id,
           nullif(actor_id, '') AS actor_id,
           (extract(epoch FROM occurred_at) * 1000000)::bigint AS occurred_us,
           id,
           props_json ? '_duplicate' AS duplicate
      FROM analytics.events
     WHERE received_at >= %(start)s AND received_at < %(end)s AND session_id <> ''
) TO STDOUT (FORMAT csv)
