-- Every event with received_at < watermark is loaded (the loader's promise), over every stream loaded: each
-- stream's own watermark is the highest of its runs, and the promise holds below the lowest of those. None until
-- every stream has had a run. Runs recorded before 0015 have no stream: they were the unsharded stream's.
-- Per stream, two index probes (load_runs_stream_watermark_idx, migration 0021) rather than a scan of every run:
-- the monitor reads it twice a pass and the batch DAGs' sensors poll it.
SELECT CASE WHEN count(w) = cardinality(%(streams)s::text[]) THEN min(w) END
FROM (
    SELECT greatest(
               (SELECT max(watermark) FROM analytics.load_runs r WHERE r.stream = s.stream),
               CASE WHEN s.stream = %(unsharded)s
                   THEN (SELECT max(watermark) FROM analytics.load_runs r WHERE r.stream IS NULL)
               END
           ) AS w
    FROM unnest(%(streams)s::text[]) AS s(stream)
) AS per_stream
