-- Per received hour (UTC) in [start, end): rows of analytics.events, events the loader dropped because an earlier
-- event holds their idempotency key, and entries it set aside (stage loader: its COPY line's first column is the
-- event's received_at; an entry without one, e.g. deleted from the stream, counts at its stream id's time).
WITH hours AS (
    SELECT generate_series(%(start)s::timestamptz, %(end)s::timestamptz - interval '1 hour', interval '1 hour') AS hour
), stored AS (
    SELECT date_trunc('hour', received_at, 'UTC') AS hour, count(*) AS n
    FROM analytics.events
    WHERE received_at >= %(start)s AND received_at < %(end)s
    GROUP BY 1
), dropped AS (
    SELECT date_trunc('hour', received_at, 'UTC') AS hour, count(*) AS n
    FROM analytics.dropped_events
    WHERE received_at >= %(start)s AND received_at < %(end)s
    GROUP BY 1
), set_aside AS (
    SELECT date_trunc('hour', at, 'UTC') AS hour, count(*) AS n
    FROM (
        SELECT CASE
                   WHEN payload ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z\t'
                       THEN split_part(payload, E'\t', 1)::timestamptz
                   WHEN stream_id ~ '^\d{1,15}-\d+$'
                       THEN to_timestamp(split_part(stream_id, '-', 1)::bigint / 1000.0)
               END AS at
        FROM analytics.rejected_events
        -- rejected_at (PostgreSQL's clock, when set aside) only narrows the scan: an hour's margin for a collector
        -- clock ahead of the database's.
        WHERE stage = 'loader' AND rejected_at >= %(start)s::timestamptz - interval '1 hour'
    ) AS loader_rejections
    WHERE at >= %(start)s AND at < %(end)s
    GROUP BY 1
)
SELECT h.hour, coalesce(s.n, 0), coalesce(d.n, 0), coalesce(a.n, 0)
FROM hours h
LEFT JOIN stored s USING (hour)
LEFT JOIN dropped d USING (hour)
LEFT JOIN set_aside a USING (hour)
ORDER BY h.hour
