-- Per-run working sets, one row per distinct user agent / session / entity version (never per event).
CREATE TEMP TABLE enrich_ua (
    ua      text    NOT NULL,
    ua_md5  uuid    NOT NULL,
    fresh   boolean NOT NULL
) ON COMMIT DROP;
CREATE TEMP TABLE enrich_versions (
    entity_type  text        NOT NULL,
    entity_id    text        NOT NULL,
    lo           timestamptz NOT NULL,
    hi           timestamptz NOT NULL,
    version_id   bigint      NOT NULL
) ON COMMIT DROP;
CREATE TEMP TABLE enrich_removed (session_id text PRIMARY KEY, n bigint NOT NULL) ON COMMIT DROP;
CREATE TEMP TABLE enrich_sessions (
    session_id      text   NOT NULL,
    actor_id        text,
    first_us        bigint NOT NULL,  -- occurred_at of the first event, µs since the epoch
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
