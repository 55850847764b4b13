-- Every version of the entities the interval's events reference; -infinity sorts first.
COPY (
    SELECT v.entity_type,
           v.entity_id,
           CASE WHEN isfinite(v.valid_from) THEN (extract(epoch FROM v.valid_from) * 1000000)::bigint
                ELSE -9223372036854775807 END AS valid_from_us,
           v.data::text AS data
      FROM analytics.entity_versions v
      JOIN unnest(%(types)s::text[], %(ids)s::text[]) AS r (entity_type, entity_id) USING (entity_type, entity_id)
) TO STDOUT (FORMAT csv)
