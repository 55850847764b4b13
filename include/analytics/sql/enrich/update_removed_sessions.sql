-- Sessions an earlier run of this interval counted but this run no longer sees (events removed since).
UPDATE analytics.sessions s
   SET event_count = s.event_count - r.n, updated_at = %(now)s
  FROM enrich_removed r
 WHERE s.session_id = r.session_id
   AND NOT EXISTS (SELECT 1
                     FROM analytics.events e
                    WHERE e.received_at >= %(start)s AND e.received_at < %(end)s AND e.session_id = r.session_id)
