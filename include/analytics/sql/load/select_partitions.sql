-- The partitions of analytics.events, by name (events_YYYYMMDD and events_default).
SELECT c.relname
FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'analytics.events'::regclass
ORDER BY c.relname
