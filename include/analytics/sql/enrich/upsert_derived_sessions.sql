-- The derived sessions (enrich_derived, sql/enrich/insert_derived_sessions.sql) into analytics.sessions, each
-- computed whole from its events: start, last event, count (without the events marked duplicates), and the first event's referrer / landing page / UTM
-- (the same expressions as sql/enrich/copy_first_touch.sql). A row that did not change is not written, so a
-- re-run leaves it as it was; returns how many sessions were derived.
WITH agg AS (
    SELECT session_id, min(actor_id) AS actor_id, min(occurred_at) AS first_at, max(occurred_at) AS last_at,
           count(*) FILTER (WHERE NOT duplicate) AS n,
           (array_agg(event_id ORDER BY occurred_at, event_id))[1] AS first_event_id,
           (array_agg(received_at ORDER BY occurred_at, event_id))[1] AS first_received_at
      FROM enrich_derived
     GROUP BY session_id
), merged AS (
    INSERT INTO analytics.sessions AS s (
        session_id, actor_id, started_at, last_event_at, event_count, first_event_id,
        referrer, landing_page, utm_source, utm_medium, utm_campaign, utm_term, utm_content, updated_at, derived)
    SELECT a.session_id, a.actor_id, a.first_at, a.last_at, a.n, a.first_event_id,
           nullif(e.attribution_json ->> 'referrer', ''),
           nullif(coalesce(e.attribution_json ->> 'landingPage',
                           CASE WHEN e.event_type = 'page_viewed'
                                THEN coalesce(e.props_json ->> 'url', e.props_json ->> 'path') END), ''),
           nullif(e.attribution_json ->> 'utmSource', ''),
           nullif(e.attribution_json ->> 'utmMedium', ''),
           nullif(e.attribution_json ->> 'utmCampaign', ''),
           nullif(e.attribution_json ->> 'utmTerm', ''),
           nullif(e.attribution_json ->> 'utmContent', ''),
           %(now)s, true
      FROM agg a
      JOIN analytics.events e ON e.id = a.first_event_id AND e.received_at = a.first_received_at
    ON CONFLICT (session_id) DO UPDATE SET
        actor_id = excluded.actor_id,
        started_at = excluded.started_at,
        last_event_at = excluded.last_event_at,
        event_count = excluded.event_count,
        first_event_id = excluded.first_event_id,
        referrer = excluded.referrer,
        landing_page = excluded.landing_page,
        utm_source = excluded.utm_source,
        utm_medium = excluded.utm_medium,
        utm_campaign = excluded.utm_campaign,
        utm_term = excluded.utm_term,
        utm_content = excluded.utm_content,
        updated_at = excluded.updated_at,
        derived = true
     WHERE (s.actor_id, s.started_at, s.last_event_at, s.event_count, s.first_event_id, s.referrer, s.landing_page,
            s.utm_source, s.utm_medium, s.utm_campaign, s.utm_term, s.utm_content, s.derived)
           IS DISTINCT FROM
           (excluded.actor_id, excluded.started_at, excluded.last_event_at, excluded.event_count,
            excluded.first_event_id, excluded.referrer, excluded.landing_page, excluded.utm_source,
            excluded.utm_medium, excluded.utm_campaign, excluded.utm_term, excluded.utm_content, true)
)
SELECT count(*) FROM agg
