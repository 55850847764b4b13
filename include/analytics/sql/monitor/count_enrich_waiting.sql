-- Loaded events (received before the loader's watermark) without their attribution row, within a
-- bounded look-back; "overdue" ones are older than the grace the hourly enrichment needs.
SELECT count(*) AS waiting,
       count(*) FILTER (WHERE e.received_at < %(overdue_before)s) AS overdue,
       min(e.received_at) AS oldest
FROM analytics.events e
WHERE e.received_at >= %(since)s AND e.received_at < %(watermark)s
  AND NOT EXISTS (SELECT 1 FROM analytics.attribution a WHERE a.event_id = e.id)
