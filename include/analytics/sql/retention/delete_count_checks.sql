-- Old hours of the accepted-against-stored check (it reads only the last day).
DELETE FROM analytics.count_checks WHERE hour < %(before)s
