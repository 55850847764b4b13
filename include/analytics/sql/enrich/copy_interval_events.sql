-- The interval's events, once, as CSV: [start, end) on received_at (see dags/events_enrich.py for why).
COPY (
    SELECT id,
           received_at,
           (extract(epoch FROM occurred_at) * 1000000)::bigint AS occurred_us,
           session_id,
           actor_id,
           entity_type,
           entity_id,
           user_agent,
           attribution_json ->> 'referrer' AS referrer,
           coalesce(attribution_json ->> 'landingPage',
                    CASE WHEN event_type = 'page_viewed' THEN coalesce(props_json ->> 'url', props_json ->> 'path') END)
               AS landing_page,
           attribution_json ->> 'utmSource' AS utm_source,
           attribution_json ->> 'utmMedium' AS utm_medium,
           attribution_json ->> 'utmCampaign' AS utm_campaign,
           attribution_json ->> 'utmTerm' AS utm_term,
           attribution_json ->> 'utmContent' AS utm_content
      FROM analytics.events
     WHERE received_at >= %(start)s AND received_at < %(end)s
) TO STDOUT (FORMAT csv)
