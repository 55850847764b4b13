-- The analytics schema: events (partitioned by day of received_at), enrichment, sessions,
-- rejected events, alerts, and the bookkeeping the loader and the monitor share.
CREATE SCHEMA IF NOT EXISTS analytics;

-- received_at is the partition key: it is assigned by the collector, never lies about the past,
-- and is what the loader's watermark and the enrichment interval select on.
CREATE TABLE analytics.events (
    id                uuid        NOT NULL,
    event_type        text        NOT NULL,
    source            text        NOT NULL,
    occurred_at       timestamptz NOT NULL,
    received_at       timestamptz NOT NULL,
    sent_at           timestamptz,
    client_occurred_at timestamptz,
    actor_id          text,
    actor_type        text,
    session_id        text,
    entity_id         text,
    entity_type       text,
    props_json        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    attribution_json  jsonb       NOT NULL DEFAULT '{}'::jsonb,
    idempotency_key   text,
    fingerprint       text        NOT NULL,
    user_agent        text,
    ip_address        inet,
    stream_id         text,
    loaded_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, received_at)
) PARTITION BY RANGE (received_at);

CREATE TABLE analytics.events_default PARTITION OF analytics.events DEFAULT;

CREATE INDEX events_received_at_idx ON analytics.events (received_at);
CREATE INDEX events_occurred_at_idx ON analytics.events (occurred_at);
CREATE INDEX events_dedup_idx ON analytics.events (event_type, actor_id, session_id, entity_id, occurred_at);
CREATE INDEX events_entity_idx ON analytics.events (entity_type, entity_id);

-- Holds the line on idempotency keys after Redis forgot them (1 h): one event per (source, key), forever.
CREATE TABLE analytics.idempotency_keys (
    source           text        NOT NULL,
    idempotency_key  text        NOT NULL,
    event_id         uuid        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, idempotency_key)
);

CREATE TABLE analytics.attribution (
    event_id             uuid PRIMARY KEY,
    received_at          timestamptz NOT NULL,
    browser_name         text,
    browser_version      text,
    os_name              text,
    os_version           text,
    device_type          text,
    device_brand         text,
    device_model         text,
    is_bot               boolean NOT NULL DEFAULT false,
    session_started_at   timestamptz,
    session_duration_ms  bigint,
    referrer             text,
    landing_page         text,
    utm_source           text,
    utm_medium           text,
    utm_campaign         text,
    utm_term             text,
    utm_content          text,
    entity_snapshot      jsonb,
    enriched_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX attribution_received_at_idx ON analytics.attribution (received_at);

CREATE TABLE analytics.sessions (
    session_id     text PRIMARY KEY,
    actor_id       text,
    started_at     timestamptz NOT NULL,
    last_event_at  timestamptz NOT NULL,
    event_count    bigint NOT NULL DEFAULT 0,
    referrer       text,
    landing_page   text,
    utm_source     text,
    utm_medium     text,
    utm_campaign   text,
    utm_term       text,
    utm_content    text,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE analytics.rejected_events (
    id           bigserial PRIMARY KEY,
    stage        text        NOT NULL CHECK (stage IN ('collector', 'loader', 'segment')),
    reason       text        NOT NULL,
    detail       jsonb,
    payload      text        NOT NULL,
    source       text,
    event_type   text,
    stream_id    text,
    rejected_at  timestamptz NOT NULL DEFAULT now(),
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    replayed_at  timestamptz
);
CREATE INDEX rejected_events_rejected_at_idx ON analytics.rejected_events (rejected_at);
-- A collector rejection is copied out of Redis at least once; this key makes the copy idempotent.
CREATE UNIQUE INDEX rejected_events_stream_id_key ON analytics.rejected_events (stage, stream_id)
    WHERE stream_id IS NOT NULL;

CREATE TABLE analytics.alerts (
    id            bigserial PRIMARY KEY,
    kind          text        NOT NULL,
    alert_key     text        NOT NULL,
    severity      text        NOT NULL DEFAULT 'error' CHECK (severity IN ('info', 'warning', 'error', 'critical')),
    state         text        NOT NULL DEFAULT 'firing' CHECK (state IN ('firing', 'resolved')),
    title         text        NOT NULL,
    message       text        NOT NULL,
    details       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    dag_id        text,
    task_id       text,
    run_id        text,
    log_url       text,
    channels      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_sent_at  timestamptz NOT NULL DEFAULT now(),
    resolved_at   timestamptz
);
CREATE INDEX alerts_key_state_idx ON analytics.alerts (alert_key, state);
CREATE INDEX alerts_created_at_idx ON analytics.alerts (created_at);

-- One row per loader run: what the monitor, the admin stats and the dashboard read.
CREATE TABLE analytics.load_runs (
    id                bigserial PRIMARY KEY,
    run_id            text,
    started_at        timestamptz NOT NULL,
    finished_at       timestamptz NOT NULL,
    entries_read      bigint NOT NULL DEFAULT 0,
    inserted          bigint NOT NULL DEFAULT 0,
    already_present   bigint NOT NULL DEFAULT 0,
    rejected          bigint NOT NULL DEFAULT 0,
    reclaimed         bigint NOT NULL DEFAULT 0,
    lag_left          bigint,
    max_received_at   timestamptz,
    duration_ms       bigint NOT NULL DEFAULT 0
);
CREATE INDEX load_runs_finished_at_idx ON analytics.load_runs (finished_at);

-- Generic per-run record for the batch DAGs (enrich, dedup, monitor).
CREATE TABLE analytics.job_runs (
    id              bigserial PRIMARY KEY,
    job             text        NOT NULL,
    run_id          text,
    interval_start  timestamptz,
    interval_end    timestamptz,
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz NOT NULL,
    stats           jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX job_runs_job_finished_idx ON analytics.job_runs (job, finished_at);

-- Daily partitions ahead of time; a day without one still lands in events_default.
CREATE FUNCTION analytics.ensure_event_partitions(from_day date, days integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    d date;
    lo timestamptz;
    hi timestamptz;
    part text;
    created integer := 0;
BEGIN
    FOR i IN 0 .. days - 1 LOOP
        d := from_day + i;
        lo := d::timestamp AT TIME ZONE 'UTC';
        hi := (d + 1)::timestamp AT TIME ZONE 'UTC';
        part := format('events_%s', to_char(d, 'YYYYMMDD'));
        IF to_regclass(format('analytics.%I', part)) IS NULL THEN
            -- Rows of that day may already sit in the default partition: move them over.
            IF EXISTS (SELECT 1 FROM analytics.events_default
                       WHERE received_at >= lo AND received_at < hi) THEN
                EXECUTE format('CREATE TABLE analytics.%I (LIKE analytics.events INCLUDING DEFAULTS)', part);
                EXECUTE format(
                    'WITH moved AS (DELETE FROM analytics.events_default
                                    WHERE received_at >= %L AND received_at < %L RETURNING *)
                     INSERT INTO analytics.%I SELECT * FROM moved', lo, hi, part);
                EXECUTE format('ALTER TABLE analytics.events ATTACH PARTITION analytics.%I
                                FOR VALUES FROM (%L) TO (%L)', part, lo, hi);
            ELSE
                EXECUTE format('CREATE TABLE analytics.%I PARTITION OF analytics.events
                                FOR VALUES FROM (%L) TO (%L)', part, lo, hi);
            END IF;
            created := created + 1;
        END IF;
    END LOOP;
    RETURN created;
END;
$$;

SELECT analytics.ensure_event_partitions((now() AT TIME ZONE 'UTC')::date - 1, 9);
