-- Firing alerts raised since %(since)s that every channel tried refused (channels: name -> "sent" | "failed: ...";
-- "table" is the row itself), after this pass's redelivery: on-call has not heard of them, so events_monitor
-- withholds its heartbeat (analytics/monitor/job.py) and the heartbeat service pages instead.
SELECT alert_key
FROM analytics.alerts
WHERE state = 'firing' AND created_at >= %(since)s
  AND EXISTS (SELECT 1 FROM jsonb_each_text(channels) c WHERE c.key <> 'table' AND c.value LIKE 'failed%%')
  AND NOT EXISTS (SELECT 1 FROM jsonb_each_text(channels) c WHERE c.key <> 'table' AND c.value = 'sent')
ORDER BY id
LIMIT 10
