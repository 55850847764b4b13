-- The strings to parse leave the run's set here and come back parsed (sql/enrich/copy_parsed_user_agents.sql).
COPY (DELETE FROM enrich_ua WHERE fresh RETURNING ua) TO STDOUT (FORMAT csv)
