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
