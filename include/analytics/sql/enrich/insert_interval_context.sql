-- A first run of the interval: all its rows, in received_at order (the received_at index grows at its
-- right edge and the heap stays in interval order for the next range scan).
INSERT INTO analytics.event_context (
    event_id, received_at, enriched_at, version_id, ua_md5, session_id,
    referrer, landing_page, utm_source, utm_medium, utm_campaign, utm_term, utm_content, duplicate
)
SELECT * FROM (
-- {select}
) r
ORDER BY received_at
