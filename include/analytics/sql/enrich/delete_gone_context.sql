-- On a re-run: rows of the interval whose event is no longer in it (their sessions were already
-- debited through enrich_removed).
DELETE FROM analytics.event_context c
 WHERE c.received_at >= %(start)s AND c.received_at < %(end)s
   AND NOT EXISTS (SELECT 1
                     FROM analytics.events e
                    WHERE e.id = c.event_id AND e.received_at = c.received_at
                      AND e.received_at >= %(start)s AND e.received_at < %(end)s)
