CREATE TEMP TABLE enrich_sessions_stage (
    session_id      text PRIMARY KEY,
    actor_id        text,
    first_us        bigint NOT NULL,
    last_us         bigint NOT NULL,
    n               bigint NOT NULL,
    first_event_id  uuid   NOT NULL,
    referrer        text,
    landing_page    text,
    utm_source      text,
    utm_medium      text,
    utm_campaign    text,
    utm_term        text,
    utm_content     text
) ON COMMIT DROP;
CREATE TEMP TABLE enrich_removed (session_id text PRIMARY KEY, n bigint NOT NULL) ON COMMIT DROP;
