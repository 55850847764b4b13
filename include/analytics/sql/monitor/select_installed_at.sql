-- When the schema was first installed: the first migration's applied_at.
SELECT min(applied_at) FROM public.schema_migrations
