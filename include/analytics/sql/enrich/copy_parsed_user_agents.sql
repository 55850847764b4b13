-- Straight into the cache, as COPY text built by the parse (analytics/enrich/ua_cache.py): the run holds the
-- enrichment lock, and sql/enrich/delete_stale_user_agents.sql removed the rows another parser had left.
COPY analytics.user_agents (
    ua_md5, ua, browser_name, browser_version, os_name, os_version,
    device_type, device_brand, device_model, is_bot, parser, parsed_at
) FROM STDIN
