-- Remember the strings this run parsed, replacing another parser's rows.
INSERT INTO analytics.user_agents AS u (
    ua_md5, ua, parser, browser_name, browser_version, os_name, os_version,
    device_type, device_brand, device_model, is_bot, parsed_at)
SELECT md5(p.ua)::uuid, p.ua, %(parser)s, p.browser_name, p.browser_version, p.os_name, p.os_version,
       p.device_type, p.device_brand, p.device_model, p.is_bot, %(now)s
  FROM enrich_ua p
 WHERE p.fresh
ON CONFLICT (ua_md5) DO UPDATE SET
    ua = excluded.ua, parser = excluded.parser,
    browser_name = excluded.browser_name, browser_version = excluded.browser_version,
    os_name = excluded.os_name, os_version = excluded.os_version, device_type = excluded.device_type,
    device_brand = excluded.device_brand, device_model = excluded.device_model, is_bot = excluded.is_bot,
    parsed_at = excluded.parsed_at
