-- Sessions an earlier run of this interval counted but this run no longer sees (events removed since).
UPDATE analytics.sessions s
   SET event_count = s.event_count - r.n, updated_at = %(now)s
  FROM enrich_removed r
 WHERE s.session_id = r.session_id
   AND NOT EXISTS (SELECT 1 FROM enrich_sessions_stage st WHERE st.session_id = r.session_id)
