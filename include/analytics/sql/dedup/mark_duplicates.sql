-- The chain rule, within one cluster of insert_candidates.sql (same type, actor, session, entity,
-- source and props): an event is a duplicate of the latest *kept* event before it when it lies within
-- the window of it; a duplicate never anchors another. a, b = a+0.8s, c = b+0.8s, all with equal
-- props: b is a duplicate of a, c is kept (1.6 s after a). Had b other props than a, all three are kept. The walk advances every cluster one row per step, set-based.
-- Rows already marked stay duplicates; unmarked context rows and anchors of earlier marks are kept events (an
-- earlier run's verdict: a mark's anchor is always a kept event). What it marks goes to dedup_marked as well.
WITH RECURSIVE walk AS (
    SELECT cluster_id, rn, id, received_at, marked, marked AS is_dup,
           CASE WHEN marked THEN NULL ELSE id END AS anchor_id,
           CASE WHEN marked THEN NULL ELSE occurred_at END AS anchor_at
    FROM dedup_candidates
    WHERE rn = 1
    UNION ALL
    SELECT c.cluster_id, c.rn, c.id, c.received_at, c.marked, v.dup,
           CASE WHEN v.dup THEN w.anchor_id ELSE c.id END,
           CASE WHEN v.dup THEN w.anchor_at ELSE c.occurred_at END
    FROM walk w
    JOIN dedup_candidates c ON c.cluster_id = w.cluster_id AND c.rn = w.rn + 1
    CROSS JOIN LATERAL (
        SELECT c.marked OR coalesce(c.in_window AND NOT c.anchor AND c.occurred_at - w.anchor_at <= %(window)s, false) AS dup
    ) v
), marked AS (
    UPDATE analytics.events e
    SET props_json = e.props_json || jsonb_build_object(
            '_duplicate', jsonb_build_object('of', w.anchor_id, 'rule', %(rule)s::text, 'foundAt', %(found_at)s::text))
    FROM walk w
    WHERE w.is_dup AND NOT w.marked AND w.anchor_id IS NOT NULL
      AND e.id = w.id AND e.received_at = w.received_at
      AND NOT (e.props_json ? '_duplicate')
    RETURNING e.id, e.received_at, e.occurred_at, e.actor_type, e.actor_id, e.session_id
)
INSERT INTO dedup_marked (id, received_at, occurred_at, actor_type, actor_id, session_id)
SELECT id, received_at, occurred_at, actor_type, actor_id, session_id FROM marked
