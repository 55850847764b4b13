-- Retention: the enrichment keys of events received before `cutoff` (UTC midnight). Their events are gone:
-- drop_event_partitions_before dropped those days and the default partition's older rows.
DELETE FROM analytics.event_context WHERE received_at < %(cutoff)s::timestamp AT TIME ZONE 'UTC'
