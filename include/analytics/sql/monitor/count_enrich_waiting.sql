-- Loaded events (received before the loader's watermark) without their attribution row, within a
-- bounded look-back; "overdue" ones are older than the grace the hourly enrichment needs.
-- The lookup is bounded to the same received_at range (an event's row carries the event's received_at): the
-- planner hashes that range's rows of analytics.event_context instead of the whole table, whose size grows with
-- retention (bench/monitor_bench.py, 5.5 M rows kept: 2.1 s -> 0.9 s for a day of 1 M events).
SELECT count(*) AS waiting,
       count(*) FILTER (WHERE e.received_at < %(overdue_before)s) AS overdue,
       min(e.received_at) AS oldest
FROM analytics.events e
WHERE e.received_at >= %(since)s AND e.received_at < %(watermark)s
  AND NOT EXISTS (SELECT 1 FROM analytics.attribution a
                  WHERE a.event_id = e.id AND a.received_at >= %(since)s AND a.received_at < %(watermark)s)
