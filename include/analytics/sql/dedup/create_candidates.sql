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
