-- A re-run: the rows are compared with what the interval already has (one hash join), and only new or
-- changed rows are written; unchanged rows are not touched (no new tuple, no row lock, no WAL).
WITH r AS (
-- {select}
)
INSERT INTO analytics.attribution AS a (
    event_id, received_at,
    session_id, session_started_at, session_duration_ms, referrer, landing_page,
    utm_source, utm_medium, utm_campaign, utm_term, utm_content,
    browser_name, browser_version, os_name, os_version, device_type, device_brand, device_model, is_bot,
    entity_snapshot, enriched_at
)
SELECT r.*
  FROM r
  LEFT JOIN analytics.attribution o
    ON o.event_id = r.event_id AND o.received_at >= %(start)s AND o.received_at < %(end)s
 WHERE o.event_id IS NULL
    OR (o.received_at, o.session_id, o.session_started_at, o.session_duration_ms, o.referrer, o.landing_page,
       o.utm_source, o.utm_medium, o.utm_campaign, o.utm_term, o.utm_content,
       o.browser_name, o.browser_version, o.os_name, o.os_version, o.device_type, o.device_brand, o.device_model,
       o.is_bot, o.entity_snapshot)
       IS DISTINCT FROM
       (r.received_at, r.session_id, r.session_started_at, r.session_duration_ms,
       r.referrer, r.landing_page,
       r.utm_source, r.utm_medium, r.utm_campaign, r.utm_term, r.utm_content,
       r.browser_name, r.browser_version, r.os_name, r.os_version,
       r.device_type, r.device_brand, r.device_model, r.is_bot, r.entity_snapshot)
 ORDER BY r.received_at
ON CONFLICT (event_id) DO UPDATE SET
    received_at = excluded.received_at,
    session_id = excluded.session_id,
    session_started_at = excluded.session_started_at,
    session_duration_ms = excluded.session_duration_ms,
    referrer = excluded.referrer,
    landing_page = excluded.landing_page,
    utm_source = excluded.utm_source,
    utm_medium = excluded.utm_medium,
    utm_campaign = excluded.utm_campaign,
    utm_term = excluded.utm_term,
    utm_content = excluded.utm_content,
    browser_name = excluded.browser_name,
    browser_version = excluded.browser_version,
    os_name = excluded.os_name,
    os_version = excluded.os_version,
    device_type = excluded.device_type,
    device_brand = excluded.device_brand,
    device_model = excluded.device_model,
    is_bot = excluded.is_bot,
    entity_snapshot = excluded.entity_snapshot,
    enriched_at = excluded.enriched_at
