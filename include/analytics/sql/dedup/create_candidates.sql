CREATE TEMP TABLE dedup_candidates (
    id           uuid        NOT NULL,
    received_at  timestamptz NOT NULL,
    occurred_at  timestamptz NOT NULL,
    in_window    boolean     NOT NULL,
    marked       boolean     NOT NULL,
    anchor       boolean     NOT NULL,  -- an earlier run kept it and marked another event a duplicate of it
    cluster_id   bigint      NOT NULL,
    rn           bigint      NOT NULL
) ON COMMIT DROP
;
-- The events this run marks (sql/dedup/mark_duplicates.sql), for the sessions that counted them
-- (sql/dedup/debit_sessions.sql).
CREATE TEMP TABLE dedup_marked (
    id           uuid        NOT NULL,
    received_at  timestamptz NOT NULL,
    occurred_at  timestamptz NOT NULL,
    actor_type   text,
    actor_id     text,
    session_id   text
) ON COMMIT DROP
