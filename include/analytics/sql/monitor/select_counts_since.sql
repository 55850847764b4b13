-- When the collector began counting events by their received_at (migration 0017): hours before are not compared.
SELECT applied_at FROM public.schema_migrations WHERE name = '0017_count_reconciliation.sql'
