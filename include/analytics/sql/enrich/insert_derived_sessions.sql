-- Sessions of the events that carry no session id, derived per actor: an actor's sessionless events of one UTC
-- day, in (occurred_at, id) order, start a new session at the day's first event and after every gap longer than
-- %(gap)s (30 minutes by default). The id is 'd-' || md5(actor type, actor id, first event's time in µs): a
-- function of the events alone, so an on-time run, a re-run, a backfill or runs in any order agree. Example with
-- a 30-minute gap: events at 10:00, 10:20, 10:45, 11:30 → sessions [10:00, 10:45] and [11:30]; a late event at
-- 11:10 joins them into one [10:00 … 11:30].
-- Every actor-day the interval's events touch is derived whole, across the interval's bounds (the events of that
-- day received in any interval), into enrich_derived: one row per event of those actor-days. The lookup also bounds
-- received_at from below: an event is received at most %(reach)s before it occurred (the collector refuses
-- occurredAt further in the future than ANALYTICS_MAX_FUTURE_SKEW_SECONDS; %(reach)s adds a day to that), so the
-- daily partitions received before are skipped at run time, not probed one by one (a year's retention keeps 365).
WITH touched AS (
    SELECT DISTINCT actor_id, (occurred_at AT TIME ZONE 'UTC')::date AS day
      FROM analytics.events
     WHERE received_at >= %(start)s AND received_at < %(end)s
       AND actor_id IS NOT NULL AND (session_id IS NULL OR session_id = '') AND actor_id <> ''
), ev AS (
    SELECT e.id, e.received_at, e.actor_type, e.actor_id, e.occurred_at, t.day, e.props_json ? '_duplicate' AS duplicate,
           CASE WHEN e.occurred_at - lag(e.occurred_at) OVER w <= %(gap)s THEN 0 ELSE 1 END AS opens
      FROM touched t
      JOIN analytics.events e
        ON e.actor_id = t.actor_id
       AND e.occurred_at >= t.day::timestamp AT TIME ZONE 'UTC'
       AND e.occurred_at < (t.day + 1)::timestamp AT TIME ZONE 'UTC'
       AND e.received_at >= t.day::timestamp AT TIME ZONE 'UTC' - %(reach)s
     WHERE e.actor_id IS NOT NULL AND (e.session_id IS NULL OR e.session_id = '')
    WINDOW w AS (PARTITION BY e.actor_type, e.actor_id, t.day ORDER BY e.occurred_at, e.id)
), numbered AS (
    SELECT *, sum(opens) OVER (PARTITION BY actor_type, actor_id, day ORDER BY occurred_at, id) AS k
      FROM ev
), sessions AS (
    SELECT *, first_value(occurred_at) OVER s AS first_at
      FROM numbered
    WINDOW s AS (PARTITION BY actor_type, actor_id, day, k ORDER BY occurred_at, id)
)
INSERT INTO enrich_derived (event_id, received_at, occurred_at, actor_id, day, session_id, duplicate)
SELECT id, received_at, occurred_at, actor_id, day,
       'd-' || md5(coalesce(actor_type, '') || ':' || actor_id || ':'
                   || ((extract(epoch FROM first_at) * 1000000)::bigint)::text),
       duplicate
  FROM sessions
