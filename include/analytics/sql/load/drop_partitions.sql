-- Retention: names of the daily partitions dropped (wholly before `cutoff`).
SELECT analytics.drop_event_partitions_before(%(cutoff)s)
