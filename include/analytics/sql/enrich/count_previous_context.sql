-- What an earlier run of this interval wrote, per session (what it counted is taken back out of the sessions'
-- counts: its rows of events not marked duplicates), and in all.
-- Derived sessions are not counted run by run but recomputed whole (sql/enrich/upsert_derived_sessions.sql).
WITH prev AS (
    SELECT session_id, count(*) AS rows, count(*) FILTER (WHERE NOT duplicate) AS n
      FROM analytics.event_context
     WHERE received_at >= %(start)s AND received_at < %(end)s
     GROUP BY session_id
), removed AS (
    INSERT INTO enrich_removed (session_id, n)
    SELECT session_id, n FROM prev
     WHERE session_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM analytics.sessions s WHERE s.session_id = prev.session_id AND s.derived)
)
SELECT coalesce(sum(rows), 0)::bigint FROM prev
