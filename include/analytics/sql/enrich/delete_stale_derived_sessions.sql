-- Derived sessions of the spans just derived again (enrich_spans) that no longer exist (a late event joined two
-- sessions, or moved a session's first event and so its id; or a visit across midnight that earlier code split at
-- midnight: a re-run or backfill of its hours joins it).
DELETE FROM analytics.sessions s
 USING enrich_spans t
 WHERE s.derived
   AND s.actor_id = t.actor_id
   AND s.started_at >= t.lo
   AND s.started_at <= t.hi
   AND NOT EXISTS (SELECT 1 FROM enrich_derived d WHERE d.session_id = s.session_id)
