-- Loaded events still without their attribution row, per hour of received_at, within [since, until).
-- Attribution keeps one row per event with the event's received_at, so per hour: events - attributions.
-- Two index-only counts on received_at instead of an anti-join over the whole window.
SELECT hour, sum(n)::bigint AS waiting
FROM (
    SELECT date_trunc('hour', received_at) AS hour, count(*) AS n
    FROM analytics.events
    WHERE received_at >= %(since)s AND received_at < %(until)s
    GROUP BY 1
    UNION ALL
    SELECT date_trunc('hour', received_at), -count(*)
    FROM analytics.attribution
    WHERE received_at >= %(since)s AND received_at < %(until)s
    GROUP BY 1
) AS per_hour
GROUP BY hour
HAVING sum(n) > 0
ORDER BY hour
