-- Rows another parser (an older ua-parser, regexes or mapping) left for the strings this run parses again.
DELETE FROM analytics.user_agents u USING enrich_ua p WHERE p.fresh AND u.ua_md5 = p.ua_md5
