-- Rows of other intervals whose session this run changed (a later event, or a late one from before
-- the known start) get the session's current context, so all rows of a session agree.
UPDATE analytics.attribution a
   SET session_started_at = s.session_started_at,
       session_duration_ms = s.session_duration_ms,
       referrer = s.referrer,
       landing_page = s.landing_page,
       utm_source = s.utm_source,
       utm_medium = s.utm_medium,
       utm_campaign = s.utm_campaign,
       utm_term = s.utm_term,
       utm_content = s.utm_content
  FROM enrich_merged s
 WHERE s.existed
   AND a.session_id = s.session_id
   AND NOT (a.received_at >= %(start)s AND a.received_at < %(end)s)
   AND (a.session_started_at, a.session_duration_ms, a.referrer, a.landing_page, a.utm_source, a.utm_medium,
        a.utm_campaign, a.utm_term, a.utm_content)
       IS DISTINCT FROM
       (s.session_started_at, s.session_duration_ms, s.referrer, s.landing_page, s.utm_source, s.utm_medium,
        s.utm_campaign, s.utm_term, s.utm_content)
