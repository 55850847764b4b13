-- Derived sessions of the actor-days just derived again that no longer exist (a late event joined two sessions,
-- or moved a session's first event and so its id).
DELETE FROM analytics.sessions s
 USING (SELECT DISTINCT actor_id, day FROM enrich_derived) t
 WHERE s.derived
   AND s.actor_id = t.actor_id
   AND s.started_at >= t.day::timestamp AT TIME ZONE 'UTC'
   AND s.started_at < (t.day + 1)::timestamp AT TIME ZONE 'UTC'
   AND NOT EXISTS (SELECT 1 FROM enrich_derived d WHERE d.session_id = s.session_id)
