-- One row per loader run (per stream when sharded); watermark semantics: see migrations 0004 and 0015.
INSERT INTO analytics.load_runs (run_id, consumer, stream, started_at, finished_at, entries_read, inserted,
                                 already_present, rejected, reclaimed, collector_rejections, batches, lag_left,
                                 pending_left, trimmed, max_received_at, watermark, duration_ms)
VALUES (%(run_id)s, %(consumer)s, %(stream)s, %(started_at)s, %(finished_at)s, %(entries_read)s, %(inserted)s,
        %(already_present)s, %(rejected)s, %(reclaimed)s, %(collector_rejections)s, %(batches)s, %(lag_left)s,
        %(pending_left)s, %(trimmed)s, %(max_received_at)s, %(watermark)s, %(duration_ms)s)
