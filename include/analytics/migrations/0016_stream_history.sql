-- Noticing that Redis lost accepted events (the monitor's check_stream_history): an accepted event lives only in
-- Redis until events_load stores it, so a Redis that restarts without its AOF, fails over to a replica that had
-- not received the latest writes, or is flushed loses what was not yet loaded, and nothing downstream can tell.
-- Two signs, kept per stream at each monitor pass: the stream's entries-added counter (XINFO STREAM), which never
-- goes back otherwise, and a marker key the monitor sets beside the stream once, which only a loss of Redis' data
-- removes. A pass that sees fewer entries added, or another marker, records a loss.

-- The last pass's view of each stream.
CREATE TABLE IF NOT EXISTS analytics.stream_marks (
    stream        text        PRIMARY KEY,
    entries_added bigint,               -- NULL: Redis < 7 keeps no such counter
    last_id       text,
    marker        text,
    undelivered   bigint      NOT NULL,
    pending       bigint      NOT NULL,
    observed_at   timestamptz NOT NULL
);

-- One row per loss seen: what the stream held at the pass before it, and what was left.
CREATE TABLE IF NOT EXISTS analytics.stream_losses (
    id                   bigserial   PRIMARY KEY,
    stream               text        NOT NULL,
    detected_at          timestamptz NOT NULL,
    marker_lost          boolean     NOT NULL,
    entries_added_before bigint,
    entries_added_after  bigint,
    last_id_before       text,
    last_id_after        text,
    observed_before_at   timestamptz NOT NULL,
    undelivered_before   bigint      NOT NULL,
    pending_before       bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS stream_losses_detected_idx ON analytics.stream_losses (detected_at);

COMMENT ON TABLE analytics.stream_losses IS
    'Redis streams seen to lose entries (entries-added went back between two monitor passes); see RUNBOOK stream-lost.';
