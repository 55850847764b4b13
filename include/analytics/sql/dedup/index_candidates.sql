CREATE INDEX ON dedup_candidates (cluster_id, rn)
