-- Every event with received_at < watermark is loaded (the loader's promise), over every stream loaded: each
-- stream's own watermark is the highest of its runs, and the promise holds below the lowest of those. None until
-- every stream has had a run. Runs recorded before 0015 have no stream: they were the unsharded stream's.
SELECT CASE WHEN count(w) = cardinality(%(streams)s::text[]) THEN min(w) END
FROM (
    SELECT max(watermark) AS w
    FROM analytics.load_runs
    WHERE coalesce(stream, %(unsharded)s) = ANY(%(streams)s::text[])
    GROUP BY coalesce(stream, %(unsharded)s)
) AS per_stream
