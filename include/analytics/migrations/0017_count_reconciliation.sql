-- Accepted against stored (the monitor's check_counts): for each whole hour the loader has passed, the events the
-- collector counted as accepted (its per-minute counters, taken by the events' received_at since this migration)
-- must all be accounted for in PostgreSQL: a row of analytics.events, an event the loader dropped because an
-- earlier event holds its idempotency key (below), or an entry the loader set aside (analytics.rejected_events,
-- stage loader). What is left is an accepted event lost on its way, which pages (RUNBOOK events-missing).

-- Events the loader dropped as duplicates of an earlier event with the same (source, idempotency key): the
-- collector accepted them (its own key check lasts an hour), the table keeps one event per key.
CREATE TABLE IF NOT EXISTS analytics.dropped_events (
    id              uuid        NOT NULL,
    received_at     timestamptz NOT NULL,
    reason          text        NOT NULL,
    source          text        NOT NULL,
    idempotency_key text,
    kept_id         uuid,                   -- the event that holds the key
    dropped_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, received_at)           -- a batch replayed after a crash records nothing twice
);
CREATE INDEX IF NOT EXISTS dropped_events_received_at_idx ON analytics.dropped_events (received_at);

-- One row per hour checked (by received_at): the figures of its last check.
CREATE TABLE IF NOT EXISTS analytics.count_checks (
    hour        timestamptz PRIMARY KEY,
    accepted    bigint      NOT NULL,       -- the collector's counters
    stored      bigint      NOT NULL,       -- rows of analytics.events
    dropped     bigint      NOT NULL,       -- analytics.dropped_events
    set_aside   bigint      NOT NULL,       -- analytics.rejected_events, stage loader
    missing     bigint      NOT NULL,       -- accepted - stored - dropped - set_aside (< 0: counters lost)
    checked_at  timestamptz NOT NULL
);

COMMENT ON TABLE analytics.count_checks IS
    'Accepted (collector counters) against stored, per received hour; missing > 0 pages (RUNBOOK events-missing).';
