-- The interval's distinct user agents, with what analytics.user_agents already knows from this parser.
INSERT INTO enrich_ua (ua, fresh, browser_name, browser_version, os_name, os_version,
                       device_type, device_brand, device_model, is_bot)
SELECT d.ua, u.ua_md5 IS NULL,
       u.browser_name, u.browser_version, u.os_name, u.os_version,
       u.device_type, u.device_brand, u.device_model, u.is_bot
  FROM (SELECT DISTINCT user_agent AS ua
          FROM analytics.events
         WHERE received_at >= %(start)s AND received_at < %(end)s AND user_agent <> '') d
  LEFT JOIN analytics.user_agents u
    ON u.ua_md5 = md5(d.ua)::uuid AND u.ua = d.ua AND u.parser = %(parser)s
