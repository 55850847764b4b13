-- Events of the re-derived actor-days that earlier runs (of other intervals) enriched: their rows follow the
-- session their events now belong to. The interval's own rows are written by the run's insert / upsert.
UPDATE analytics.event_context c
   SET session_id = d.session_id
  FROM enrich_derived d
 WHERE c.event_id = d.event_id AND c.received_at = d.received_at
   AND c.session_id IS DISTINCT FROM d.session_id
   AND NOT (c.received_at >= %(start)s AND c.received_at < %(end)s)
