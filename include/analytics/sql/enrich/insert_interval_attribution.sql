-- A first run of the interval: all its rows, in received_at order (the received_at index grows at its
-- right edge and the heap stays in interval order for the next range scan).
INSERT INTO analytics.attribution (
    event_id, received_at,
    session_id, session_started_at, session_duration_ms, referrer, landing_page,
    utm_source, utm_medium, utm_campaign, utm_term, utm_content,
    browser_name, browser_version, os_name, os_version, device_type, device_brand, device_model, is_bot,
    entity_snapshot, enriched_at
)
SELECT * FROM (
-- {select}
) r
ORDER BY received_at
