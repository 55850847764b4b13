-- events_dedup_nightly never marks an event that an earlier run kept as the anchor of a duplicate (runs' windows
-- overlap: a manual run covers the 24 h before its trigger, a run may be given an explicit end). It looks anchors up
-- by the mark's `of`; only marked rows are indexed (a few per cent of events).
CREATE INDEX IF NOT EXISTS events_duplicate_of_idx
    ON analytics.events (((props_json -> '_duplicate' ->> 'of')))
    WHERE props_json ? '_duplicate';
