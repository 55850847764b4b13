-- Demo and test data for the host tables; deterministic ids, safe to run again.
INSERT INTO app.users (id, email, name, role, created_at, updated_at)
SELECT format('usr_%s', lpad(n::text, 3, '0')),
       format('user%s@example.com', n),
       (ARRAY['Ada', 'Grace', 'Linus', 'Barbara', 'Ken', 'Margaret', 'Dennis', 'Frances'])[1 + n % 8]
           || ' ' || (ARRAY['Lovelace', 'Hopper', 'Torvalds', 'Liskov', 'Thompson', 'Hamilton'])[1 + n % 6],
       CASE WHEN n = 1 THEN 'admin' WHEN n % 3 = 0 THEN 'creator' ELSE 'member' END,
       timestamptz '2026-01-01 00:00:00+00' + n * interval '1 day',
       timestamptz '2026-01-01 00:00:00+00' + n * interval '1 day'
FROM generate_series(1, 50) AS n
ON CONFLICT (id) DO NOTHING;

INSERT INTO app.projects (id, owner_id, name, status, created_at, updated_at)
SELECT format('prj_%s', lpad(n::text, 3, '0')),
       format('usr_%s', lpad((1 + (n * 3) % 50)::text, 3, '0')),
       format('Project %s', n),
       CASE WHEN n % 5 = 0 THEN 'completed' ELSE 'active' END,
       timestamptz '2026-02-01 00:00:00+00' + n * interval '1 day',
       timestamptz '2026-02-01 00:00:00+00' + n * interval '1 day'
FROM generate_series(1, 20) AS n
ON CONFLICT (id) DO NOTHING;

INSERT INTO app.assets (id, owner_id, project_id, title, media_type, status, size_bytes, created_at, updated_at)
SELECT format('ast_%s', lpad(n::text, 3, '0')),
       format('usr_%s', lpad((1 + (n * 7) % 50)::text, 3, '0')),
       format('prj_%s', lpad((1 + n % 20)::text, 3, '0')),
       format('%s #%s', (ARRAY['Sunset over Lisbon', 'Harbour at dawn', 'Theme in D minor', 'Quarterly deck',
                               'City timelapse', 'Forest ambience'])[1 + n % 6], n),
       (ARRAY['image', 'video', 'audio', 'document', 'video', 'audio'])[1 + n % 6],
       CASE WHEN n % 4 = 0 THEN 'pending' ELSE 'approved' END,
       100000 + n * 7919,
       timestamptz '2026-03-01 00:00:00+00' + n * interval '1 hour',
       timestamptz '2026-03-01 00:00:00+00' + n * interval '1 hour'
FROM generate_series(1, 100) AS n
ON CONFLICT (id) DO NOTHING;

INSERT INTO app.licenses (id, asset_id, licensee_id, license_type, price_cents, currency, territory, status,
                          created_at, updated_at)
SELECT format('lic_%s', lpad(n::text, 3, '0')),
       format('ast_%s', lpad((1 + n % 100)::text, 3, '0')),
       format('usr_%s', lpad((1 + (n * 11) % 50)::text, 3, '0')),
       (ARRAY['standard', 'extended', 'exclusive', 'editorial'])[1 + n % 4],
       (ARRAY[4900, 14900, 99900, 2900])[1 + n % 4],
       'USD',
       CASE WHEN n % 3 = 0 THEN 'EU' ELSE 'worldwide' END,
       CASE WHEN n % 2 = 0 THEN 'signed' ELSE 'draft' END,
       timestamptz '2026-04-01 00:00:00+00' + n * interval '1 hour',
       timestamptz '2026-04-01 00:00:00+00' + n * interval '1 hour'
FROM generate_series(1, 40) AS n
ON CONFLICT (id) DO NOTHING;

INSERT INTO app.payouts (id, user_id, amount_cents, currency, status, created_at, updated_at)
SELECT format('pay_%s', lpad(n::text, 3, '0')),
       format('usr_%s', lpad((1 + (n * 3) % 50)::text, 3, '0')),
       10000 + n * 1234,
       'USD',
       CASE WHEN n % 7 = 0 THEN 'failed' ELSE 'completed' END,
       timestamptz '2026-05-01 00:00:00+00' + n * interval '1 day',
       timestamptz '2026-05-01 00:00:00+00' + n * interval '1 day'
FROM generate_series(1, 20) AS n
ON CONFLICT (id) DO NOTHING;
