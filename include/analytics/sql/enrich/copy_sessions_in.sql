-- The interval's per-session aggregate (computed on a second connection in the run's snapshot) into the run.
COPY enrich_sessions (
    session_id, actor_id, first_us, last_us, n, first_event_id,
    referrer, landing_page, utm_source, utm_medium, utm_campaign, utm_term, utm_content
) FROM STDIN (FORMAT csv)
