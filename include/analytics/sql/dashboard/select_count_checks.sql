-- The count check's last day (analytics.count_checks, written by the monitor's check_counts): the latest hour
-- compared, and the hours whose accepted events are not all accounted for.
SELECT max(hour) AS last_hour,
       count(*) FILTER (WHERE missing > 0) AS hours_missing,
       coalesce(sum(missing) FILTER (WHERE missing > 0), 0)::bigint AS missing
FROM analytics.count_checks
WHERE hour >= %(since)s
