-- The interval's attribution rows, one per event: each event joined to its user agent's parsed columns,
-- its session's merged context and its entity's version at occurred_at (the run's working sets,
-- sql/enrich/create_stages.sql). Events without a session keep their own referrer / landing page / UTM.
-- Used inside sql/enrich/insert_interval_attribution.sql and sql/enrich/upsert_interval_attribution.sql.
SELECT e.id AS event_id,
       e.received_at,
       s.session_id,
       s.session_started_at,
       s.session_duration_ms,
       CASE WHEN s.session_id IS NULL THEN nullif(e.attribution_json ->> 'referrer', '') ELSE s.referrer END
           AS referrer,
       CASE WHEN s.session_id IS NULL
            THEN nullif(coalesce(e.attribution_json ->> 'landingPage',
                                 CASE WHEN e.event_type = 'page_viewed'
                                      THEN coalesce(e.props_json ->> 'url', e.props_json ->> 'path') END),
                        '')
            ELSE s.landing_page END AS landing_page,
       CASE WHEN s.session_id IS NULL THEN nullif(e.attribution_json ->> 'utmSource', '') ELSE s.utm_source END AS utm_source,
       CASE WHEN s.session_id IS NULL THEN nullif(e.attribution_json ->> 'utmMedium', '') ELSE s.utm_medium END AS utm_medium,
       CASE WHEN s.session_id IS NULL THEN nullif(e.attribution_json ->> 'utmCampaign', '') ELSE s.utm_campaign END AS utm_campaign,
       CASE WHEN s.session_id IS NULL THEN nullif(e.attribution_json ->> 'utmTerm', '') ELSE s.utm_term END AS utm_term,
       CASE WHEN s.session_id IS NULL THEN nullif(e.attribution_json ->> 'utmContent', '') ELSE s.utm_content END AS utm_content,
       u.browser_name,
       u.browser_version,
       u.os_name,
       u.os_version,
       u.device_type,
       u.device_brand,
       u.device_model,
       coalesce(u.is_bot, false) AS is_bot,
       v.data AS entity_snapshot,
       %(now)s::timestamptz AS enriched_at
  FROM analytics.events e
  LEFT JOIN enrich_merged s ON s.session_id = e.session_id
  LEFT JOIN enrich_ua u ON u.ua = e.user_agent
  LEFT JOIN enrich_versions v
    ON v.entity_type = e.entity_type AND v.entity_id = e.entity_id AND e.occurred_at >= v.lo AND e.occurred_at < v.hi
 WHERE e.received_at >= %(start)s AND e.received_at < %(end)s
