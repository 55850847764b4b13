-- Row counts and key statistics of the run's sets, so the planner hash-joins them to the events; a small
-- sample is enough for that (the default one costs ~0.1 s on 30,000 distinct user agents).
SET LOCAL default_statistics_target = 10;
ANALYZE enrich_ua, enrich_versions;
