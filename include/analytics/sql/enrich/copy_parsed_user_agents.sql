-- Straight into the cache (the run holds the enrichment lock, and sql/enrich/delete_stale_user_agents.sql
-- removed the rows another parser had left for these strings).
COPY analytics.user_agents (
    ua_md5, ua, parser, browser_name, browser_version, os_name, os_version,
    device_type, device_brand, device_model, is_bot, parsed_at
) FROM STDIN (FORMAT csv)
