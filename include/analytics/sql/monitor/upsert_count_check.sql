INSERT INTO analytics.count_checks (hour, accepted, stored, dropped, set_aside, missing, checked_at)
VALUES (%(hour)s, %(accepted)s, %(stored)s, %(dropped)s, %(set_aside)s, %(missing)s, %(checked_at)s)
ON CONFLICT (hour) DO UPDATE
SET accepted = excluded.accepted, stored = excluded.stored, dropped = excluded.dropped,
    set_aside = excluded.set_aside, missing = excluded.missing, checked_at = excluded.checked_at
