-- Did a task of run %(run_id)s of %(dag_id)s record its failure (first page, or a later failure kept in the row)?
SELECT EXISTS (
    SELECT 1 FROM analytics.alerts
    WHERE kind = 'task_failed' AND dag_id = %(dag_id)s
      AND (run_id = %(run_id)s OR details->'recentRunIds' ? %(run_id)s)
)
