-- A session's event_count leaves out the events the nightly job marks as duplicates, as analysts count events
-- (analytics.events_deduplicated). Before, enrichment counted every event, and the nightly job runs after it, so a
-- session's count included its duplicates for good.
-- event_context.duplicate: the event was marked when its row was written, or the nightly job marked it since
-- (events_dedup_nightly sets it and debits the session: sql/dedup/debit_sessions.sql). A client session's
-- event_count is the number of its rows without it; a derived session's is recomputed whole from its events.
ALTER TABLE analytics.event_context ADD COLUMN IF NOT EXISTS duplicate boolean NOT NULL DEFAULT false;

-- The enrichment lock (analytics.db.SESSIONS_LOCK_ID = 0x656E7263), which the new dedup takes too: no enrichment run
-- (nor a nightly job of the code before, deployed beside it) marks or counts between the repair and the commit.
SELECT pg_advisory_xact_lock(1701737059);

-- What is already stored: the rows of marked events, and the client sessions that counted them.
WITH flagged AS (
    UPDATE analytics.event_context c
       SET duplicate = true
      FROM analytics.events e
     WHERE e.props_json ? '_duplicate'
       AND c.event_id = e.id AND c.received_at = e.received_at
       AND NOT c.duplicate
    RETURNING c.session_id
)
UPDATE analytics.sessions s
   SET event_count = s.event_count - f.n
  FROM (SELECT session_id, count(*) AS n FROM flagged WHERE session_id IS NOT NULL GROUP BY session_id) f
 WHERE s.session_id = f.session_id AND NOT s.derived;

-- Derived sessions: each one's unmarked events (an actor's sessionless events between its first and last).
UPDATE analytics.sessions s
   SET event_count = (SELECT count(*)
                        FROM analytics.events e
                       WHERE e.actor_id = s.actor_id
                         AND e.actor_type IS NOT DISTINCT FROM f.actor_type
                         AND (e.session_id IS NULL OR e.session_id = '')
                         AND e.occurred_at >= s.started_at AND e.occurred_at <= s.last_event_at
                         AND NOT (e.props_json ? '_duplicate'))
  FROM analytics.events f
 WHERE s.derived AND f.id = s.first_event_id
   AND EXISTS (SELECT 1
                 FROM analytics.events m
                WHERE m.props_json ? '_duplicate'
                  AND m.actor_id = s.actor_id
                  AND m.actor_type IS NOT DISTINCT FROM f.actor_type
                  AND (m.session_id IS NULL OR m.session_id = '')
                  AND m.occurred_at >= s.started_at AND m.occurred_at <= s.last_event_at);
