SELECT count(*), count(*) FILTER (WHERE NOT existed) FROM enrich_merged
