SELECT count(*) FROM analytics.events WHERE received_at >= %(start)s AND received_at < %(end)s
