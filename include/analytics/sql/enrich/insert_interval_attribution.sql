-- The interval's attribution rows in one set-based statement: each event joined to its user agent's parsed
-- columns, its session's merged context and its entity's version at occurred_at (the run's working sets,
-- sql/enrich/create_stages.sql). Events without a session keep their own referrer / landing page / UTM.
-- A re-run appends sql/enrich/on_conflict_attribution.sql: rows that would not change are not written.
INSERT INTO analytics.attribution AS a (
    event_id, received_at,
    session_id, session_started_at, session_duration_ms, referrer, landing_page,
    utm_source, utm_medium, utm_campaign, utm_term, utm_content,
    browser_name, browser_version, os_name, os_version, device_type, device_brand, device_model, is_bot,
    entity_snapshot, enriched_at
)
SELECT e.id,
       e.received_at,
       s.session_id,
       s.session_started_at,
       s.session_duration_ms,
       CASE WHEN s.session_id IS NULL THEN nullif(e.attribution_json ->> 'referrer', '') ELSE s.referrer END,
       CASE WHEN s.session_id IS NULL
            THEN nullif(coalesce(e.attribution_json ->> 'landingPage',
                                 CASE WHEN e.event_type = 'page_viewed'
                                      THEN coalesce(e.props_json ->> 'url', e.props_json ->> 'path') END),
                        '')
            ELSE s.landing_page END,
       CASE WHEN s.session_id IS NULL THEN nullif(e.attribution_json ->> 'utmSource', '') ELSE s.utm_source END,
       CASE WHEN s.session_id IS NULL THEN nullif(e.attribution_json ->> 'utmMedium', '') ELSE s.utm_medium END,
       CASE WHEN s.session_id IS NULL THEN nullif(e.attribution_json ->> 'utmCampaign', '') ELSE s.utm_campaign END,
       CASE WHEN s.session_id IS NULL THEN nullif(e.attribution_json ->> 'utmTerm', '') ELSE s.utm_term END,
       CASE WHEN s.session_id IS NULL THEN nullif(e.attribution_json ->> 'utmContent', '') ELSE s.utm_content END,
       u.browser_name,
       u.browser_version,
       u.os_name,
       u.os_version,
       u.device_type,
       u.device_brand,
       u.device_model,
       coalesce(u.is_bot, false),
       v.data,
       %(now)s
  FROM analytics.events e
  LEFT JOIN enrich_merged s ON s.session_id = e.session_id
  LEFT JOIN enrich_ua u ON u.ua = e.user_agent
  LEFT JOIN enrich_versions v
    ON v.entity_type = e.entity_type AND v.entity_id = e.entity_id AND e.occurred_at >= v.lo AND e.occurred_at < v.hi
 WHERE e.received_at >= %(start)s AND e.received_at < %(end)s
