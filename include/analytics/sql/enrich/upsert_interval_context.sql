-- A re-run: the rows are compared with what the interval already has (one hash join), and only new or
-- changed rows are written; unchanged rows are not touched (no new tuple, no row lock, no WAL).
WITH r AS (
-- {select}
)
INSERT INTO analytics.event_context AS c (
    event_id, received_at, enriched_at, version_id, ua_md5, session_id,
    referrer, landing_page, utm_source, utm_medium, utm_campaign, utm_term, utm_content, duplicate
)
SELECT r.*
  FROM r
  LEFT JOIN analytics.event_context o
    ON o.event_id = r.event_id AND o.received_at >= %(start)s AND o.received_at < %(end)s
 WHERE o.event_id IS NULL
    OR (o.received_at, o.version_id, o.ua_md5, o.session_id, o.referrer, o.landing_page,
        o.utm_source, o.utm_medium, o.utm_campaign, o.utm_term, o.utm_content, o.duplicate)
       IS DISTINCT FROM
       (r.received_at, r.version_id, r.ua_md5, r.session_id, r.referrer, r.landing_page,
        r.utm_source, r.utm_medium, r.utm_campaign, r.utm_term, r.utm_content, r.duplicate)
 ORDER BY r.received_at
ON CONFLICT (event_id) DO UPDATE SET
    received_at = excluded.received_at,
    enriched_at = excluded.enriched_at,
    version_id = excluded.version_id,
    ua_md5 = excluded.ua_md5,
    session_id = excluded.session_id,
    referrer = excluded.referrer,
    landing_page = excluded.landing_page,
    utm_source = excluded.utm_source,
    utm_medium = excluded.utm_medium,
    utm_campaign = excluded.utm_campaign,
    utm_term = excluded.utm_term,
    utm_content = excluded.utm_content,
    duplicate = excluded.duplicate
