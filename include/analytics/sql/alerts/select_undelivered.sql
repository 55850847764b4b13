-- Firing alerts raised since %(since)s that a channel failed to take (channels: name -> "sent" | "failed: ...";
-- "table" is the row itself), or that no channel was ever tried for (a failure callback records the row first and
-- may be killed before it sends: channels still empty after %(stale)s): dispatch.redeliver sends them again.
SELECT id, kind, alert_key, severity, message, details, dag_id, task_id, channels
FROM analytics.alerts
WHERE state = 'firing' AND created_at >= %(since)s
  AND (EXISTS (SELECT 1 FROM jsonb_each_text(channels) c WHERE c.key <> 'table' AND c.value LIKE 'failed%%')
       OR (channels = '{}'::jsonb AND last_sent_at < %(stale)s))
ORDER BY id
LIMIT 100
