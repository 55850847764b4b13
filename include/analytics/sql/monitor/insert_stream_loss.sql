INSERT INTO analytics.stream_losses (stream, detected_at, marker_lost, entries_added_before, entries_added_after,
                                     last_id_before, last_id_after, observed_before_at, undelivered_before,
                                     pending_before)
VALUES (%(stream)s, %(now)s, %(marker_lost)s, %(entries_added_before)s, %(entries_added_after)s, %(last_id_before)s,
        %(last_id_after)s, %(observed_before_at)s, %(undelivered_before)s, %(pending_before)s)
