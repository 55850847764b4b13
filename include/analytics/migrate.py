"""Ordered SQL migrations with a record of which were applied."""

from __future__ import annotations

import argparse
import hashlib
import logging
from pathlib import Path

from analytics.config import get_settings
from analytics.db import connect, ensure_database

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any constant works; it serialises concurrent migrators (two `make up`s, parallel tests).
_LOCK_ID = 0x616E616C

log = logging.getLogger(__name__)


def migration_files() -> list[Path]:
    return sorted(MIGRATIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql"))


def migrate(dsn: str) -> list[str]:
    """Apply every pending migration in order, each in its own transaction; return their names."""
    applied_now: list[str] = []
    with connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            conn.execute(
                """CREATE TABLE IF NOT EXISTS public.schema_migrations (
                       name text PRIMARY KEY,
                       checksum text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            done = {
                name: checksum for name, checksum in conn.execute("SELECT name, checksum FROM public.schema_migrations")
            }
            for path in migration_files():
                text = path.read_text()
                checksum = hashlib.sha256(text.encode()).hexdigest()
                if path.name in done:
                    if done[path.name] != checksum:
                        log.warning("migration %s changed after it was applied; not re-running", path.name)
                    continue
                with conn.transaction():
                    conn.execute(text)
                    conn.execute(
                        "INSERT INTO public.schema_migrations (name, checksum) VALUES (%s, %s)",
                        (path.name, checksum),
                    )
                applied_now.append(path.name)
                log.info("applied %s", path.name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    return applied_now


def main() -> None:
    parser = argparse.ArgumentParser(description="Create the analytics database and apply migrations.")
    parser.add_argument("--dsn", help="defaults to DATABASE_URL")
    parser.add_argument("--seed", action="store_true", help="also load the demo seed data (idempotent)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    dsn = args.dsn or get_settings().database_url
    if ensure_database(dsn):
        log.info("created database")
    names = migrate(dsn)
    log.info("migrations: %s", ", ".join(names) if names else "up to date")
    if args.seed:
        from analytics.seed import seed

        seed(dsn)
        log.info("seed data loaded")


if __name__ == "__main__":
    main()
