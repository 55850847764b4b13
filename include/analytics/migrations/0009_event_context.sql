-- Enrichment stores keys, not copies. The wide analytics.attribution row repeated per event what already
-- lives once elsewhere — the parsed user agent (analytics.user_agents), the session's context
-- (analytics.sessions), the entity's version (analytics.entity_versions, immutable history) — and writing
-- it (~650 bytes of WAL and three index entries per event) was most of the hourly run. Per event we now keep
-- only the keys, in analytics.event_context; analytics.attribution (a contract) becomes a view with the
-- same columns, one row per enriched event. Session columns in it are the session's current state, so a
-- late event that moves a session's start corrects every hour's rows at once, with nothing to rewrite.

-- The key of an entity version: a row of history is never changed once its transaction commits.
ALTER TABLE analytics.entity_versions ADD COLUMN version_id bigint GENERATED ALWAYS AS IDENTITY;
CREATE UNIQUE INDEX entity_versions_version_id_key ON analytics.entity_versions (version_id);

-- One row per enriched event. ua_md5 → analytics.user_agents, session_id → analytics.sessions,
-- version_id → analytics.entity_versions (the entity as it was at the event's time). No foreign keys: each
-- would cost a lookup per inserted event, and the job writes the referenced rows in the same transaction.
-- referrer … utm_content: the event's own first touch, kept only for events outside any session (a
-- session's events take it from the session); NULL otherwise, which costs a bit in the null bitmap.
CREATE TABLE analytics.event_context (
    event_id      uuid        PRIMARY KEY,
    received_at   timestamptz NOT NULL,
    enriched_at   timestamptz NOT NULL DEFAULT now(),
    version_id    bigint,
    ua_md5        uuid,
    session_id    text,
    referrer      text,
    landing_page  text,
    utm_source    text,
    utm_medium    text,
    utm_campaign  text,
    utm_term      text,
    utm_content   text
);

-- Existing rows. Their parsed user agent: strings the cache lacks (rows enriched before it existed) are
-- added from the rows themselves, marked with a parser name no run uses, so the next run that meets the
-- string parses it again and replaces them.
INSERT INTO analytics.user_agents (ua_md5, ua, parser, browser_name, browser_version, os_name, os_version,
                                   device_type, device_brand, device_model, is_bot, parsed_at)
SELECT DISTINCT ON (md5(e.user_agent)::uuid)
       md5(e.user_agent)::uuid, e.user_agent, 'migrated from analytics.attribution',
       a.browser_name, a.browser_version, a.os_name, a.os_version,
       a.device_type, a.device_brand, a.device_model, a.is_bot, a.enriched_at
  FROM analytics.attribution a
  JOIN analytics.events e ON e.id = a.event_id AND e.received_at = a.received_at
 WHERE e.user_agent <> ''
   AND NOT EXISTS (SELECT 1 FROM analytics.user_agents u WHERE u.ua_md5 = md5(e.user_agent)::uuid)
 ORDER BY md5(e.user_agent)::uuid, a.enriched_at DESC;

-- Sessions the rows name but analytics.sessions lost: rebuilt from the rows' own session columns.
INSERT INTO analytics.sessions (session_id, started_at, last_event_at, event_count, referrer, landing_page,
                                utm_source, utm_medium, utm_campaign, utm_term, utm_content)
SELECT DISTINCT ON (a.session_id)
       a.session_id, a.session_started_at,
       a.session_started_at + coalesce(a.session_duration_ms, 0) * interval '1 millisecond',
       count(*) OVER (PARTITION BY a.session_id),
       a.referrer, a.landing_page, a.utm_source, a.utm_medium, a.utm_campaign, a.utm_term, a.utm_content
  FROM analytics.attribution a
 WHERE a.session_id IS NOT NULL AND a.session_started_at IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM analytics.sessions s WHERE s.session_id = a.session_id)
 ORDER BY a.session_id, a.enriched_at DESC;

-- The version a row's snapshot came from: among the entity's versions, one equal to the stored snapshot
-- (the latest such one not after the event, else the earliest); a row without a snapshot keeps none.
-- Rows whose event is gone (its partition dropped by retention) keep their session and times; their user
-- agent and snapshot can no longer be keyed.
INSERT INTO analytics.event_context (event_id, received_at, enriched_at, version_id, ua_md5, session_id,
                                     referrer, landing_page, utm_source, utm_medium, utm_campaign, utm_term,
                                     utm_content)
SELECT a.event_id, a.received_at, a.enriched_at,
       CASE WHEN a.entity_snapshot IS NOT NULL THEN
           (SELECT v.version_id
              FROM analytics.entity_versions v
             WHERE v.entity_type = e.entity_type AND v.entity_id = e.entity_id AND v.data = a.entity_snapshot
             ORDER BY v.valid_from <= e.occurred_at DESC,
                      CASE WHEN v.valid_from <= e.occurred_at THEN v.valid_from END DESC,
                      v.valid_from
             LIMIT 1)
       END,
       CASE WHEN e.user_agent <> '' THEN md5(e.user_agent)::uuid END,
       a.session_id,
       CASE WHEN a.session_id IS NULL THEN a.referrer END,
       CASE WHEN a.session_id IS NULL THEN a.landing_page END,
       CASE WHEN a.session_id IS NULL THEN a.utm_source END,
       CASE WHEN a.session_id IS NULL THEN a.utm_medium END,
       CASE WHEN a.session_id IS NULL THEN a.utm_campaign END,
       CASE WHEN a.session_id IS NULL THEN a.utm_term END,
       CASE WHEN a.session_id IS NULL THEN a.utm_content END
  FROM analytics.attribution a
  LEFT JOIN analytics.events e ON e.id = a.event_id AND e.received_at = a.received_at
 ORDER BY a.received_at;

DROP TABLE analytics.attribution;

-- The primary key serves the monitor's and dashboard's NOT EXISTS backlog checks (through the view: its
-- joins are all to unique keys and are removed from such plans), received_at an interval's re-run. (A BRIN
-- index on received_at was tried: ~0.05 s cheaper per 200,000 inserted rows, but once deletes and re-runs
-- let other hours' rows into a block range, finding an interval's earlier rows cost 0.15 s instead of
-- ~0.01 s, and the planner preferred a seq scan of the whole table for an hour its statistics had not seen.)
CREATE INDEX event_context_received_at_idx ON analytics.event_context (received_at);

-- The contract: one row per enriched event, the columns (and order) the table had.
CREATE VIEW analytics.attribution AS
SELECT c.event_id,
       c.received_at,
       u.browser_name,
       u.browser_version,
       u.os_name,
       u.os_version,
       u.device_type,
       u.device_brand,
       u.device_model,
       coalesce(u.is_bot, false) AS is_bot,
       s.started_at AS session_started_at,
       (extract(epoch FROM s.last_event_at - s.started_at) * 1000)::bigint AS session_duration_ms,
       CASE WHEN c.session_id IS NULL THEN c.referrer ELSE s.referrer END AS referrer,
       CASE WHEN c.session_id IS NULL THEN c.landing_page ELSE s.landing_page END AS landing_page,
       CASE WHEN c.session_id IS NULL THEN c.utm_source ELSE s.utm_source END AS utm_source,
       CASE WHEN c.session_id IS NULL THEN c.utm_medium ELSE s.utm_medium END AS utm_medium,
       CASE WHEN c.session_id IS NULL THEN c.utm_campaign ELSE s.utm_campaign END AS utm_campaign,
       CASE WHEN c.session_id IS NULL THEN c.utm_term ELSE s.utm_term END AS utm_term,
       CASE WHEN c.session_id IS NULL THEN c.utm_content ELSE s.utm_content END AS utm_content,
       v.data AS entity_snapshot,
       c.enriched_at,
       c.session_id
  FROM analytics.event_context c
  LEFT JOIN analytics.user_agents u ON u.ua_md5 = c.ua_md5
  LEFT JOIN analytics.sessions s ON s.session_id = c.session_id
  LEFT JOIN analytics.entity_versions v ON v.version_id = c.version_id;

COMMENT ON VIEW analytics.attribution IS
    'One row per enriched event (contract). Stored as keys in analytics.event_context; write there.';
