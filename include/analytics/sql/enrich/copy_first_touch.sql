-- Referrer, landing page and UTM of the sessions' first events only (ids from the aggregate), empty
-- strings as missing: the same expressions as sql/enrich/copy_session_aggregates.sql.
COPY (
    SELECT id,
           nullif(attribution_json ->> 'referrer', '') AS referrer,
           nullif(coalesce(attribution_json ->> 'landingPage',
                           CASE WHEN event_type = 'page_viewed'
                                THEN coalesce(props_json ->> 'url', props_json ->> 'path') END),
                  '') AS landing_page,
           nullif(attribution_json ->> 'utmSource', '') AS utm_source,
           nullif(attribution_json ->> 'utmMedium', '') AS utm_medium,
           nullif(attribution_json ->> 'utmCampaign', '') AS utm_campaign,
           nullif(attribution_json ->> 'utmTerm', '') AS utm_term,
           nullif(attribution_json ->> 'utmContent', '') AS utm_content
      FROM analytics.events
     WHERE received_at >= %(start)s AND received_at < %(end)s AND id = ANY(%(ids)s::uuid[])
) TO STDOUT (FORMAT csv)
