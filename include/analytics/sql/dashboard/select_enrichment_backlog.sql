-- Loaded events still without their attribution row, per hour of received_at, within [since, until).
-- The same anti-join as the monitor's count (sql/monitor/count_enrich_waiting.sql), split by hour, its lookup
-- bounded to the same range for the same reason.
SELECT date_trunc('hour', e.received_at) AS hour, count(*) AS waiting
FROM analytics.events AS e
WHERE e.received_at >= %(since)s
  AND e.received_at < %(until)s
  AND NOT EXISTS (SELECT 1 FROM analytics.attribution AS a
                  WHERE a.event_id = e.id AND a.received_at >= %(since)s AND a.received_at < %(until)s)
GROUP BY 1
ORDER BY 1
