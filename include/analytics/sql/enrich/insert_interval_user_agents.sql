-- The interval's distinct user agents and their cache key; fresh: analytics.user_agents has no row for the
-- string from this parser, so the run parses it.
INSERT INTO enrich_ua (ua, ua_md5, fresh)
SELECT d.ua, d.ua_md5,
       NOT EXISTS (SELECT 1 FROM analytics.user_agents u
                    WHERE u.ua_md5 = d.ua_md5 AND u.ua = d.ua AND u.parser = %(parser)s)
  FROM (SELECT ua, md5(ua)::uuid AS ua_md5
          FROM (SELECT DISTINCT user_agent AS ua
                  FROM analytics.events
                 WHERE received_at >= %(start)s AND received_at < %(end)s AND user_agent <> '') s) d
