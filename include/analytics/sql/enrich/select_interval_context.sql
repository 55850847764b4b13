-- The interval's rows of analytics.event_context, one per event: the keys of its parsed user agent, its
-- session (the client's, else the derived one: sql/enrich/insert_derived_sessions.sql) and its entity's version
-- at occurred_at (from the run's working sets, sql/enrich/create_stages.sql). duplicate: the nightly job marked the
-- event, so its session does not count it (migration 0020).
-- An event outside any session keeps its own referrer / landing page / UTM; a session's events read the
-- session's (through the analytics.attribution view). Used inside sql/enrich/insert_interval_context.sql
-- and sql/enrich/upsert_interval_context.sql.
SELECT e.id AS event_id,
       e.received_at,
       %(now)s::timestamptz AS enriched_at,
       v.version_id,
       u.ua_md5,
       coalesce(nullif(e.session_id, ''), d.session_id) AS session_id,
       CASE WHEN coalesce(e.session_id, '') = '' THEN nullif(e.attribution_json ->> 'referrer', '') END
           AS referrer,
       CASE WHEN coalesce(e.session_id, '') = ''
            THEN nullif(coalesce(e.attribution_json ->> 'landingPage',
                                 CASE WHEN e.event_type = 'page_viewed'
                                      THEN coalesce(e.props_json ->> 'url', e.props_json ->> 'path') END),
                        '') END AS landing_page,
       CASE WHEN coalesce(e.session_id, '') = '' THEN nullif(e.attribution_json ->> 'utmSource', '') END AS utm_source,
       CASE WHEN coalesce(e.session_id, '') = '' THEN nullif(e.attribution_json ->> 'utmMedium', '') END AS utm_medium,
       CASE WHEN coalesce(e.session_id, '') = '' THEN nullif(e.attribution_json ->> 'utmCampaign', '') END AS utm_campaign,
       CASE WHEN coalesce(e.session_id, '') = '' THEN nullif(e.attribution_json ->> 'utmTerm', '') END AS utm_term,
       CASE WHEN coalesce(e.session_id, '') = '' THEN nullif(e.attribution_json ->> 'utmContent', '') END AS utm_content,
       e.props_json ? '_duplicate' AS duplicate
  FROM analytics.events e
  LEFT JOIN enrich_ua u ON u.ua = e.user_agent
  LEFT JOIN enrich_derived d ON d.event_id = e.id
  LEFT JOIN enrich_versions v
    ON v.entity_type = e.entity_type AND v.entity_id = e.entity_id AND e.occurred_at >= v.lo AND e.occurred_at < v.hi
 WHERE e.received_at >= %(start)s AND e.received_at < %(end)s
