-- The same per-session aggregate as analytics/enrich/sessions.py computes with pandas, done by PostgreSQL
-- (the reference the tests compare it with, and the bench's alternative): first and last time, count, first
-- known actor (a session may start anonymous and log in later), and the first event's referrer / landing
-- page / UTM. The first event is the earliest by occurred_at, ties broken by the smaller id. Empty strings
-- count as missing. The sort is on session_id's bytes (COLLATE "C": same grouping, abbreviated sort keys).
COPY (
    SELECT f.session_id, f.actor_id, f.first_us, f.last_us, f.n, f.first_event_id,
           nullif(f.attribution_json ->> 'referrer', '') AS referrer,
           nullif(coalesce(f.attribution_json ->> 'landingPage',
                           CASE WHEN f.event_type = 'page_viewed'
                                THEN coalesce(f.props_json ->> 'url', f.props_json ->> 'path') END),
                  '') AS landing_page,
           nullif(f.attribution_json ->> 'utmSource', '') AS utm_source,
           nullif(f.attribution_json ->> 'utmMedium', '') AS utm_medium,
           nullif(f.attribution_json ->> 'utmCampaign', '') AS utm_campaign,
           nullif(f.attribution_json ->> 'utmTerm', '') AS utm_term,
           nullif(f.attribution_json ->> 'utmContent', '') AS utm_content
      FROM (SELECT DISTINCT ON (session_id COLLATE "C")
                   session_id,
                   (array_agg(nullif(actor_id, '')) FILTER (WHERE nullif(actor_id, '') IS NOT NULL) OVER w)[1]
                       AS actor_id,
                   (extract(epoch FROM occurred_at) * 1000000)::bigint AS first_us,
                   (extract(epoch FROM max(occurred_at) OVER w) * 1000000)::bigint AS last_us,
                   count(*) FILTER (WHERE NOT (props_json ? '_duplicate')) OVER w AS n,
                   id AS first_event_id,
                   attribution_json,
                   props_json,
                   event_type
              FROM analytics.events
             WHERE received_at >= %(start)s AND received_at < %(end)s AND session_id <> ''
            WINDOW w AS (PARTITION BY session_id COLLATE "C" ORDER BY occurred_at, id
                         ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
             ORDER BY session_id COLLATE "C", occurred_at, id) f
) TO STDOUT (FORMAT csv)
