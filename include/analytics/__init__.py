"""The analytics pipeline: one sub-package per stage of the flow (collect → load → enrich, dedup → monitor) over
a small core (config, db, connections, migrate, sql, migrations). A stage imports only the core and the stages
before it."""
