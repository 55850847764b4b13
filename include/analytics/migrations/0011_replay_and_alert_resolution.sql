-- Two on-call tools (issue #15): replaying kept rejections, and failure alerts that resolve.

-- Replaying kept rejections (DAG events_replay_rejected, issue #15.2): what each replay made of a row.
-- replay_outcome: 'replayed' (appended again, replay_event_id = the new event's id), 'duplicate' (the collector's
-- dedupe found it already appended, replay_event_id = that event's id) or 'rejected' (still refused, for
-- replay_reason / replay_detail). Rows replayed or duplicate are never replayed again; rejected ones may be.
ALTER TABLE analytics.rejected_events
    ADD COLUMN IF NOT EXISTS replay_outcome text
        CHECK (replay_outcome IN ('replayed', 'duplicate', 'rejected')),
    ADD COLUMN IF NOT EXISTS replay_event_id uuid,
    ADD COLUMN IF NOT EXISTS replay_reason text,
    ADD COLUMN IF NOT EXISTS replay_detail jsonb,
    ADD COLUMN IF NOT EXISTS replay_run_id text,
    ADD COLUMN IF NOT EXISTS replay_count integer NOT NULL DEFAULT 0;

-- The replay's selection: rows of one stage not yet replayed, by time of rejection.
CREATE INDEX IF NOT EXISTS rejected_events_replay_idx ON analytics.rejected_events (stage, rejected_at)
    WHERE replay_outcome IS NULL OR replay_outcome = 'rejected';

-- A task's success resolves its open failure alerts (analytics.monitor.alerts.notifier.SuccessNotifier): every
-- task success looks them up, so the lookup is an index probe on the few open ones.
CREATE INDEX IF NOT EXISTS alerts_open_task_failures_idx ON analytics.alerts (dag_id, task_id)
    WHERE state = 'firing' AND kind = 'task_failed';
