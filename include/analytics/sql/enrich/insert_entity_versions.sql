-- Each version of the entities the interval's events reference, as the range of event times it answers:
-- [valid_from, next version's valid_from); the first version also covers everything before it (an event
-- stamped before the entity's first known version, e.g. clock skew, gets that first version).
-- Returns how many distinct entities the interval references.
WITH refs AS (
    SELECT DISTINCT entity_type, entity_id
      FROM analytics.events
     WHERE received_at >= %(start)s AND received_at < %(end)s
       AND entity_type IS NOT NULL AND entity_id IS NOT NULL
), staged AS (
    INSERT INTO enrich_versions (entity_type, entity_id, lo, hi, version_id)
    SELECT v.entity_type,
           v.entity_id,
           CASE WHEN row_number() OVER w = 1 THEN timestamptz '-infinity' ELSE v.valid_from END,
           coalesce(lead(v.valid_from) OVER w, timestamptz 'infinity'),
           v.version_id
      FROM analytics.entity_versions v
     WHERE (v.entity_type, v.entity_id) IN (SELECT entity_type, entity_id FROM refs)
    WINDOW w AS (PARTITION BY v.entity_type, v.entity_id ORDER BY v.valid_from)
)
SELECT count(*) FROM refs
