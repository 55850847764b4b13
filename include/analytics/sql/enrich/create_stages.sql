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
-- The interval's sessions as aggregated on the second connection (analytics/enrich/sessions.py), typed like
-- analytics.sessions; first / last occurred_at as µs since the epoch.
CREATE TEMP TABLE enrich_sessions ON COMMIT DROP AS
SELECT session_id, actor_id, 0::bigint AS first_us, 0::bigint AS last_us, event_count AS n, first_event_id,
       referrer, landing_page, utm_source, utm_medium, utm_campaign, utm_term, utm_content
  FROM analytics.sessions
  WITH NO DATA;
-- Events of the actor-days whose sessions the run derives (sql/enrich/insert_derived_sessions.sql).
CREATE TEMP TABLE enrich_derived (
    event_id     uuid        PRIMARY KEY,
    received_at  timestamptz NOT NULL,
    occurred_at  timestamptz NOT NULL,
    actor_id     text        NOT NULL,
    day          date        NOT NULL,
    session_id   text        NOT NULL,
    duplicate    boolean     NOT NULL  -- marked by the nightly job: in the session, not in its count
) ON COMMIT DROP;
-- Which sessions still exist (sql/enrich/delete_stale_derived_sessions.sql): a lookup, whatever plan the planner
-- picks from its guess of how many derived sessions there are (a nested loop over a scan of this table took
-- seconds an hour: bench/derived_sessions_bench.py).
CREATE INDEX ON enrich_derived (session_id);
