-- One row per session in the interval: first and last time, count, first known actor (a session may start
-- anonymous and log in later), and the first event's referrer / landing page / UTM. The first event is the
-- earliest by occurred_at, ties broken by the smaller id, so it does not depend on the order rows are read.
-- Empty strings count as missing, as they always have. The sort is on session_id's bytes (COLLATE "C": same
-- grouping, abbreviated sort keys; about a third faster than the database's C.UTF-8 collation on this box).
INSERT INTO enrich_sessions_stage (
    session_id, actor_id, first_at, last_at, n, first_event_id,
    referrer, landing_page, utm_source, utm_medium, utm_campaign, utm_term, utm_content)
SELECT DISTINCT ON (session_id COLLATE "C")
       session_id,
       (array_agg(nullif(actor_id, '')) FILTER (WHERE nullif(actor_id, '') IS NOT NULL) OVER w)[1],
       occurred_at,
       max(occurred_at) OVER w,
       count(*) OVER w,
       id,
       nullif(attribution_json ->> 'referrer', ''),
       nullif(coalesce(attribution_json ->> 'landingPage',
                       CASE WHEN event_type = 'page_viewed' THEN coalesce(props_json ->> 'url', props_json ->> 'path') END),
              ''),
       nullif(attribution_json ->> 'utmSource', ''),
       nullif(attribution_json ->> 'utmMedium', ''),
       nullif(attribution_json ->> 'utmCampaign', ''),
       nullif(attribution_json ->> 'utmTerm', ''),
       nullif(attribution_json ->> 'utmContent', '')
  FROM analytics.events
 WHERE received_at >= %(start)s AND received_at < %(end)s AND session_id <> ''
WINDOW w AS (PARTITION BY session_id COLLATE "C" ORDER BY occurred_at, id
             ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
 ORDER BY session_id COLLATE "C", occurred_at, id
