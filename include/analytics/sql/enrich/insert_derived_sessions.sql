-- Sessions of the events that carry no session id, derived per actor: an actor's sessionless events, in
-- (occurred_at, id) order, open a new session after every gap longer than %(gap)s (30 minutes by default), and
-- only then: a visit from 23:50 to 00:10 is one session, as with a session id. The id is 'd-' || md5(actor type,
-- actor id, first event's time in µs): a function of the events alone, so an on-time run, a re-run, a backfill or
-- runs in any order agree. Example with a 30-minute gap: events at 10:00, 10:20, 10:45, 11:30 → sessions
-- [10:00, 10:45] and [11:30]; a late event at 11:10 joins them into one [10:00 … 11:30].
-- Each actor the interval's events touch is derived whole over a span (enrich_spans): from the earliest to the
-- latest of its events in the interval, widened at both ends to the edge of the sessions there (walking from event
-- to event across gaps of at most %(gap)s, one index probe a step, each step as far as the gap allows). No
-- session crosses a span's ends, so the span's sessions are computed from all their events (received in any
-- interval) into enrich_derived, one row per event.
-- Each lookup of an actor's events also bounds received_at from below: an event is received at most %(reach)s
-- after it occurred (the collector refuses occurredAt further in the future than ANALYTICS_MAX_FUTURE_SKEW_SECONDS;
-- %(reach)s adds a day to that), so the daily partitions received before are skipped, not probed one by one (a
-- year's retention keeps 365 of them).
WITH RECURSIVE touched AS (
    SELECT actor_id, min(occurred_at) AS lo, max(occurred_at) AS hi
      FROM analytics.events
     WHERE received_at >= %(start)s AND received_at < %(end)s
       AND actor_id IS NOT NULL AND (session_id IS NULL OR session_id = '') AND actor_id <> ''
     GROUP BY actor_id
), back AS (
    SELECT actor_id, lo AS at FROM touched
    UNION ALL
    SELECT b.actor_id, p.occurred_at
      FROM back b
      CROSS JOIN LATERAL (SELECT e.occurred_at
                            FROM analytics.events e
                           WHERE e.actor_id = b.actor_id AND (e.session_id IS NULL OR e.session_id = '')
                             AND e.occurred_at >= b.at - %(gap)s AND e.occurred_at < b.at
                             AND e.received_at >= b.at - %(gap)s - %(reach)s
                           ORDER BY e.occurred_at
                           LIMIT 1) p
), ahead AS (
    SELECT actor_id, hi AS at FROM touched
    UNION ALL
    SELECT a.actor_id, p.occurred_at
      FROM ahead a
      CROSS JOIN LATERAL (SELECT e.occurred_at
                            FROM analytics.events e
                           WHERE e.actor_id = a.actor_id AND (e.session_id IS NULL OR e.session_id = '')
                             AND e.occurred_at > a.at AND e.occurred_at <= a.at + %(gap)s
                             AND e.received_at >= a.at - %(reach)s
                           ORDER BY e.occurred_at DESC
                           LIMIT 1) p
), spans AS (
    INSERT INTO enrich_spans (actor_id, lo, hi)
    SELECT b.actor_id, b.lo, a.hi
      FROM (SELECT actor_id, min(at) AS lo FROM back GROUP BY actor_id) b
      JOIN (SELECT actor_id, max(at) AS hi FROM ahead GROUP BY actor_id) a USING (actor_id)
    RETURNING actor_id, lo, hi
), ev AS (
    SELECT e.id, e.received_at, e.actor_type, e.actor_id, e.occurred_at, e.props_json ? '_duplicate' AS duplicate,
           CASE WHEN e.occurred_at - lag(e.occurred_at) OVER w <= %(gap)s THEN 0 ELSE 1 END AS opens
      FROM spans t
      JOIN analytics.events e
        ON e.actor_id = t.actor_id AND e.occurred_at >= t.lo AND e.occurred_at <= t.hi
       AND e.received_at >= t.lo - %(reach)s
     WHERE e.actor_id IS NOT NULL AND (e.session_id IS NULL OR e.session_id = '')
    WINDOW w AS (PARTITION BY e.actor_type, e.actor_id ORDER BY e.occurred_at, e.id)
), numbered AS (
    SELECT *, sum(opens) OVER (PARTITION BY actor_type, actor_id ORDER BY occurred_at, id) AS k
      FROM ev
), sessions AS (
    SELECT *, first_value(occurred_at) OVER s AS first_at
      FROM numbered
    WINDOW s AS (PARTITION BY actor_type, actor_id, k ORDER BY occurred_at, id)
)
INSERT INTO enrich_derived (event_id, received_at, occurred_at, actor_id, session_id, duplicate)
SELECT id, received_at, occurred_at, actor_id,
       'd-' || md5(coalesce(actor_type, '') || ':' || actor_id || ':'
                   || ((extract(epoch FROM first_at) * 1000000)::bigint)::text),
       duplicate
  FROM sessions
