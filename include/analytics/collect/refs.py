"""Referential integrity for the collector: a Redis cache of known host ids, misses confirmed in Postgres.

The append script checks the known-id sets (`Keys.refs(kind)`) in the same round trip as the dedupe;
only a miss costs a Postgres query, and an id found there is remembered.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Iterable

import psycopg
import redis

from analytics.collect.keys import REF_KINDS, Keys
from analytics.db import connect
from analytics.redis_client import open_redis
from analytics.sql import load_sql

log = logging.getLogger(__name__)


class RefsUnavailable(Exception):
    """Transient: Postgres could not confirm a miss; answer 503 rather than reject a possibly valid event."""


class RefCache:
    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        dsn: str,
        *,
        ttl_seconds: int = 86_400,
        timeout_seconds: float = 2.0,
    ):
        self.client = client
        self.keys = keys
        self.dsn = dsn
        self.ttl_seconds = ttl_seconds
        self.timeout_seconds = timeout_seconds
        self._conn: psycopg.Connection | None = None
        self._lock = threading.Lock()

    def _rows(self, query: str, params: dict | None = None) -> list[tuple[str, str]]:
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._conn is None or self._conn.closed:
                        self._conn = connect(
                            self.dsn,
                            autocommit=True,
                            connect_timeout=self.timeout_seconds,
                            statement_timeout_ms=int(self.timeout_seconds * 1000),
                        )
                    return self._conn.execute(query, params).fetchall()
                except psycopg.OperationalError as exc:
                    if self._conn is not None:
                        self._conn.close()
                    self._conn = None
                    if attempt == 2:
                        raise RefsUnavailable(f"postgres unavailable: {type(exc).__name__}") from exc
                    log.info("postgres connection lost (%s); reconnecting", type(exc).__name__)
        raise AssertionError("unreachable")

    def _remember(self, found: dict[str, set[str]]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for kind, ids in found.items():
            if ids:
                key = self.keys.refs(kind)
                pipe.sadd(key, *ids)
                pipe.expire(key, self.ttl_seconds)
        pipe.execute()

    def confirm(self, wanted: dict[str, set[str]]) -> dict[str, set[str]]:
        """Which of `wanted` (kind → ids) exist in Postgres; the found ones are added to the cache."""
        params = {kind: sorted(wanted.get(kind, ())) for kind in REF_KINDS}
        found: dict[str, set[str]] = defaultdict(set)
        if any(params.values()):
            for kind, id_ in self._rows(load_sql("refs/select_known_ids"), params):
                found[kind].add(id_)
            self._remember(found)
        return dict(found)

    def warm(self) -> int:
        """Load every host id into the cache; returns how many."""
        found: dict[str, set[str]] = defaultdict(set)
        for kind, id_ in self._rows(load_sql("refs/select_all_ids")):
            found[kind].add(id_)
        self._remember(found)
        return sum(len(v) for v in found.values())

    def forget(self, kinds: Iterable[str] = REF_KINDS) -> None:
        self.client.delete(*(self.keys.refs(k) for k in kinds))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def main() -> None:
    """`python -m analytics.collect.refs` fills the known-id cache from Postgres (optional: misses fill it lazily)."""
    from analytics.config import get_settings

    logging.basicConfig(level=logging.INFO)
    s = get_settings()
    client = open_redis(s.redis_url, s)
    cache = RefCache(client, Keys(s.key_prefix, s.stream_key), s.database_url, ttl_seconds=s.refs_ttl_seconds)
    try:
        log.info("cached %d known ids", cache.warm())
    finally:
        cache.close()
        client.close()


if __name__ == "__main__":
    main()
