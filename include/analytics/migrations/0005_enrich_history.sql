-- Enrichment: entity history for as-of-event-time snapshots, and the columns the hourly job keys on.

-- Every version of the host rows events refer to, kept by triggers on the host tables. A snapshot taken
-- once at enrichment time would be wrong for any backfill or re-run; history answers "as it was at t".
-- Users are left out on purpose: their rows are personal data (email) that must not be copied into events.
CREATE TABLE analytics.entity_versions (
    entity_type  text        NOT NULL,
    entity_id    text        NOT NULL,
    valid_from   timestamptz NOT NULL,
    valid_to     timestamptz,
    data         jsonb       NOT NULL,
    PRIMARY KEY (entity_type, entity_id, valid_from)
);

CREATE FUNCTION analytics.record_entity_version() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    etype text := TG_ARGV[0];
BEGIN
    -- updated_at alone moving is not a new version.
    IF TG_OP = 'UPDATE' AND (to_jsonb(OLD) - 'updated_at') = (to_jsonb(NEW) - 'updated_at') THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        -- A second change in the same transaction replaces that transaction's version: no zero-length rows.
        DELETE FROM analytics.entity_versions
         WHERE entity_type = etype AND entity_id = OLD.id AND valid_from = now();
        UPDATE analytics.entity_versions SET valid_to = now()
         WHERE entity_type = etype AND entity_id = OLD.id AND valid_to IS NULL;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO analytics.entity_versions (entity_type, entity_id, valid_from, data)
        VALUES (etype, NEW.id, now(), to_jsonb(NEW) - 'updated_at')
        ON CONFLICT (entity_type, entity_id, valid_from) DO UPDATE SET data = excluded.data, valid_to = NULL;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER assets_versions AFTER INSERT OR UPDATE OR DELETE ON app.assets
    FOR EACH ROW EXECUTE FUNCTION analytics.record_entity_version('asset');
CREATE TRIGGER licenses_versions AFTER INSERT OR UPDATE OR DELETE ON app.licenses
    FOR EACH ROW EXECUTE FUNCTION analytics.record_entity_version('license');
CREATE TRIGGER projects_versions AFTER INSERT OR UPDATE OR DELETE ON app.projects
    FOR EACH ROW EXECUTE FUNCTION analytics.record_entity_version('project');
CREATE TRIGGER payouts_versions AFTER INSERT OR UPDATE OR DELETE ON app.payouts
    FOR EACH ROW EXECUTE FUNCTION analytics.record_entity_version('payout');

-- Rows that exist before history starts: their current state is the best knowledge for all earlier time.
INSERT INTO analytics.entity_versions (entity_type, entity_id, valid_from, data)
SELECT 'asset', id, timestamptz '-infinity', to_jsonb(t) - 'updated_at' FROM app.assets t
UNION ALL
SELECT 'license', id, '-infinity', to_jsonb(t) - 'updated_at' FROM app.licenses t
UNION ALL
SELECT 'project', id, '-infinity', to_jsonb(t) - 'updated_at' FROM app.projects t
UNION ALL
SELECT 'payout', id, '-infinity', to_jsonb(t) - 'updated_at' FROM app.payouts t;

-- Attribution carries its session so a late event can correct the session context of earlier rows.
ALTER TABLE analytics.attribution ADD COLUMN session_id text;
CREATE INDEX attribution_session_idx ON analytics.attribution (session_id) WHERE session_id IS NOT NULL;

-- The first event decides referrer, landing page and UTM; (started_at, first_event_id) orders ties.
ALTER TABLE analytics.sessions ADD COLUMN first_event_id uuid;
