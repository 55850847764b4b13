-- A re-run replaces the interval's rows; what they counted per session is taken back out of sessions.
WITH gone AS (
    DELETE FROM analytics.attribution
     WHERE received_at >= %(start)s AND received_at < %(end)s
    RETURNING session_id
), removed AS (
    INSERT INTO enrich_removed (session_id, n)
    SELECT session_id, count(*) FROM gone WHERE session_id IS NOT NULL GROUP BY session_id
)
SELECT count(*) FROM gone
