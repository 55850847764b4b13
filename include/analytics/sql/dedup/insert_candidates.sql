-- Events of one key (event_type, actor_id, session_id, entity_id, source and the props digest: the
-- collector's fingerprint fields; NULL equals NULL) in occurred_at order. Only events with a neighbour
-- within the window can be or have a duplicate: they form clusters (runs of gaps <= window), and only
-- the clusters go on to the walk in mark_duplicates.sql. The scan clusters on the indexed part of the
-- key; each cluster is then split by source and props digest (md5 of the jsonb text without the
-- pipeline's own `_duplicate` mark: jsonb text is canonical, so key order does not matter). Two events
-- of one full key within the window always share a scan cluster, so the split loses no pair.
-- Rows received in [context_start, start) are context: earlier kept events, never marked here. So are anchors:
-- events an earlier run kept and marked another event a duplicate of (windows of runs overlap: a manual run, an
-- explicit end). Marking one would hide its duplicate too, which may stand more than the window from the new
-- anchor (looked up by events_duplicate_of_idx, on marked rows only).
-- The scan reads only columns of events_dedup_scan_idx (an index-only walk in window order, no
-- sort); source and props_json are looked at for the few candidates only.
INSERT INTO dedup_candidates (id, received_at, occurred_at, in_window, marked, anchor, cluster_id, rn)
WITH scan AS (
    SELECT id, received_at, occurred_at, event_type, actor_id, session_id, entity_id,
           received_at >= %(start)s AS in_window,
           occurred_at - lag(occurred_at) OVER w AS gap_before,
           lead(occurred_at) OVER w - occurred_at AS gap_after
    FROM analytics.events
    WHERE received_at >= %(context_start)s AND received_at < %(end)s
      -- nothing identifies who sent an event without actor and session: never collapse those
      AND (actor_id IS NOT NULL OR session_id IS NOT NULL)
    WINDOW w AS (PARTITION BY event_type, actor_id, session_id, entity_id ORDER BY occurred_at, id)
),
linked AS (
    SELECT id, received_at, occurred_at, in_window, event_type, actor_id, session_id, entity_id,
           sum(CASE WHEN gap_before IS NULL OR gap_before > %(window)s THEN 1 ELSE 0 END)
               OVER (ORDER BY event_type, actor_id, session_id, entity_id, occurred_at, id
                     ROWS UNBOUNDED PRECEDING) AS cluster_id
    FROM scan
    WHERE gap_before <= %(window)s OR gap_after <= %(window)s
)
SELECT l.id, l.received_at, l.occurred_at, l.in_window, e.marked, e.anchor,
       dense_rank() OVER (ORDER BY l.cluster_id, e.source, e.digest),
       row_number() OVER (PARTITION BY l.cluster_id, e.source, e.digest ORDER BY l.occurred_at, l.id)
FROM linked l
CROSS JOIN LATERAL (
    SELECT ev.props_json ? '_duplicate' AS marked, ev.source, md5((ev.props_json - '_duplicate')::text) AS digest,
           EXISTS (
               SELECT 1 FROM analytics.events d
               WHERE d.props_json ? '_duplicate' AND d.props_json -> '_duplicate' ->> 'of' = l.id::text
           ) AS anchor
    FROM analytics.events ev
    WHERE ev.received_at = l.received_at AND ev.id = l.id
) e
