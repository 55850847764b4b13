-- Sessions for events that carry no sessionId (browsers through analytics.js, most server clients): enrichment
-- derives them per actor by inactivity (analytics/enrich/derived.py). derived marks those rows: they are
-- recomputed whole from the events of their actor's day, never counted up run by run as client sessions are.
ALTER TABLE analytics.sessions ADD COLUMN IF NOT EXISTS derived boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS sessions_derived_actor_idx ON analytics.sessions (actor_id, started_at) WHERE derived;

-- An actor's sessionless events of one day, in time order: what a derivation reads.
CREATE INDEX IF NOT EXISTS events_sessionless_actor_idx ON analytics.events (actor_id, occurred_at)
    WHERE actor_id IS NOT NULL AND (session_id IS NULL OR session_id = '');
