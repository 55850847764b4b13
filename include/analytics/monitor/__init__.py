"""monitor: what watches the pipeline and tells people (checks, alerts and their channels, the dashboard's
queries). May import: any stage, the core."""
