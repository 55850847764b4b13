-- The sessions that counted the events this run marked (dedup_marked) stop counting them, so a session's
-- event_count is what analytics.events_deduplicated holds of it (migration 0020).
-- A client session: the event's enriched row (event_context) is flagged and the session debited once; an event
-- not enriched yet is flagged by its enrichment run, which then does not count it.
-- A derived session is recounted whole from its unmarked events (an actor's sessionless events from its first to
-- its last; its actor type is its first event's), as sql/enrich/upsert_derived_sessions.sql computes it.
-- Lookups of events bound received_at from below as enrichment's do (%(reach)s: sql/enrich/insert_derived_sessions.sql),
-- so older daily partitions are skipped. Runs under the enrichment lock (analytics.db.SESSIONS_LOCK_ID): no enrichment run is between its read
-- of the marks and its write of the counts. Returns (client sessions debited, derived sessions recounted).
WITH flagged AS (
    UPDATE analytics.event_context c
       SET duplicate = true
      FROM dedup_marked m
     WHERE c.event_id = m.id AND c.received_at = m.received_at AND NOT c.duplicate
    RETURNING c.session_id
), client AS (
    UPDATE analytics.sessions s
       SET event_count = s.event_count - f.n
      FROM (SELECT session_id, count(*) AS n FROM flagged WHERE session_id IS NOT NULL GROUP BY session_id) f
     WHERE s.session_id = f.session_id AND NOT s.derived
    RETURNING 1
), touched AS (
    SELECT DISTINCT s.session_id, s.actor_id, s.started_at, s.last_event_at, f.actor_type
      FROM dedup_marked m
      JOIN analytics.sessions s
        ON s.derived AND s.actor_id = m.actor_id
       AND m.occurred_at >= s.started_at AND m.occurred_at <= s.last_event_at
      JOIN analytics.events f
        ON f.id = s.first_event_id AND f.actor_type IS NOT DISTINCT FROM m.actor_type
       AND f.received_at >= s.started_at - %(reach)s
     WHERE m.actor_id IS NOT NULL AND m.actor_id <> '' AND (m.session_id IS NULL OR m.session_id = '')
), derived AS (
    UPDATE analytics.sessions s
       SET event_count = (SELECT count(*)
                            FROM analytics.events e
                           WHERE e.actor_id = t.actor_id
                             AND e.actor_type IS NOT DISTINCT FROM t.actor_type
                             AND (e.session_id IS NULL OR e.session_id = '')
                             AND e.occurred_at >= t.started_at AND e.occurred_at <= t.last_event_at
                             AND e.received_at >= t.started_at - %(reach)s
                             AND NOT (e.props_json ? '_duplicate'))
      FROM touched t
     WHERE s.session_id = t.session_id
    RETURNING 1
)
SELECT (SELECT count(*) FROM client), (SELECT count(*) FROM derived)
