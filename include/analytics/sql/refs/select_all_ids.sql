-- Every id of the host tables, to warm the collector's known-id cache.
SELECT 'user' AS kind, id FROM app.users
UNION ALL SELECT 'asset', id FROM app.assets
UNION ALL SELECT 'license', id FROM app.licenses
UNION ALL SELECT 'project', id FROM app.projects
UNION ALL SELECT 'payout', id FROM app.payouts
