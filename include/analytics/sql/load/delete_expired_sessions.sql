-- Retention: sessions no enrichment run has touched since `cutoff` (UTC midnight). updated_at is the start of
-- the last run that added or removed one of their events, so every such event was received before the cutoff
-- and is gone. Should a later event of the session arrive, enrichment starts the session again from it.
DELETE FROM analytics.sessions WHERE updated_at < %(cutoff)s::timestamp AT TIME ZONE 'UTC'
