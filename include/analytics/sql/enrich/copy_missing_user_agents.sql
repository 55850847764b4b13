-- The strings no row of analytics.user_agents has from this parser: parsed in Python, copied back in
-- (sql/enrich/copy_parsed_user_agents.sql).
COPY (SELECT ua_md5, ua FROM enrich_ua WHERE fresh) TO STDOUT
