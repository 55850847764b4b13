-- The interval's sessions, one row each from enrich_sessions (aggregated on a second connection in the run's
-- snapshot: analytics/enrich/sessions.py), merged into analytics.sessions (the one place session context
-- lives: the analytics.attribution view reads it); returns (sessions touched, of which new).
-- started_at / last_event_at take least / greatest, and the first event (by time, then id) decides
-- the actor, referrer, landing page and UTM: so a late event from before the known start corrects the session,
-- and merging the same interval twice changes nothing. event_count adds this run's events minus what
-- an earlier run of the same interval had counted (enrich_removed).
WITH st AS (
    SELECT session_id, actor_id,
           timestamptz 'epoch' + first_us * interval '1 microsecond' AS first_at,
           timestamptz 'epoch' + last_us * interval '1 microsecond' AS last_at,
           n, first_event_id, referrer, landing_page, utm_source, utm_medium, utm_campaign, utm_term, utm_content
      FROM enrich_sessions
), merged AS (
    INSERT INTO analytics.sessions AS s (
        session_id, actor_id, started_at, last_event_at, event_count, first_event_id,
        referrer, landing_page, utm_source, utm_medium, utm_campaign, utm_term, utm_content, updated_at)
    SELECT st.session_id, st.actor_id, st.first_at, st.last_at, st.n - coalesce(r.n, 0), st.first_event_id,
           st.referrer, st.landing_page, st.utm_source, st.utm_medium, st.utm_campaign, st.utm_term, st.utm_content,
           %(now)s
      FROM st
      LEFT JOIN enrich_removed r USING (session_id)
    ON CONFLICT (session_id) DO UPDATE SET
        -- The first event's actor (else the one known so far): the same in any run order, as the first touch.
        actor_id = CASE WHEN (excluded.started_at, excluded.first_event_id) < (s.started_at, s.first_event_id)
                        THEN coalesce(excluded.actor_id, s.actor_id) ELSE coalesce(s.actor_id, excluded.actor_id) END,
        started_at = least(s.started_at, excluded.started_at),
        last_event_at = greatest(s.last_event_at, excluded.last_event_at),
        event_count = s.event_count + excluded.event_count,
        first_event_id = CASE WHEN (excluded.started_at, excluded.first_event_id) < (s.started_at, s.first_event_id)
                              THEN excluded.first_event_id ELSE s.first_event_id END,
        referrer = CASE WHEN (excluded.started_at, excluded.first_event_id) < (s.started_at, s.first_event_id)
                        THEN excluded.referrer ELSE s.referrer END,
        landing_page = CASE WHEN (excluded.started_at, excluded.first_event_id) < (s.started_at, s.first_event_id)
                            THEN excluded.landing_page ELSE s.landing_page END,
        utm_source = CASE WHEN (excluded.started_at, excluded.first_event_id) < (s.started_at, s.first_event_id)
                          THEN excluded.utm_source ELSE s.utm_source END,
        utm_medium = CASE WHEN (excluded.started_at, excluded.first_event_id) < (s.started_at, s.first_event_id)
                          THEN excluded.utm_medium ELSE s.utm_medium END,
        utm_campaign = CASE WHEN (excluded.started_at, excluded.first_event_id) < (s.started_at, s.first_event_id)
                            THEN excluded.utm_campaign ELSE s.utm_campaign END,
        utm_term = CASE WHEN (excluded.started_at, excluded.first_event_id) < (s.started_at, s.first_event_id)
                        THEN excluded.utm_term ELSE s.utm_term END,
        utm_content = CASE WHEN (excluded.started_at, excluded.first_event_id) < (s.started_at, s.first_event_id)
                           THEN excluded.utm_content ELSE s.utm_content END,
        updated_at = excluded.updated_at
    RETURNING (xmax = 0) AS new
)
SELECT count(*), count(*) FILTER (WHERE new) FROM merged
