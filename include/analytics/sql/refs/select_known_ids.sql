-- Which of the given ids exist in the host tables; one array parameter per kind.
SELECT 'user' AS kind, id FROM app.users WHERE id = ANY(%(user)s)
UNION ALL SELECT 'asset', id FROM app.assets WHERE id = ANY(%(asset)s)
UNION ALL SELECT 'license', id FROM app.licenses WHERE id = ANY(%(license)s)
UNION ALL SELECT 'project', id FROM app.projects WHERE id = ANY(%(project)s)
UNION ALL SELECT 'payout', id FROM app.payouts WHERE id = ANY(%(payout)s)
