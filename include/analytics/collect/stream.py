"""Redis side of ingestion: the atomic dedupe-and-append script and rejection keeping (keys in `keys`)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hiredis
import redis

from analytics.collect.group_commit import Call, GroupCommit
from analytics.collect.keys import REF_KIND_INDEX, REF_KINDS, STAT_SEP, STATS_TTL_SECONDS, Keys, stats_bucket
from analytics.config import Settings
from analytics.redis_client import pool_for, refresh

if TYPE_CHECKING:
    from analytics.collect.shards import ShardedWriter

# The append script (append.lua says what it takes and answers): one call per group of requests.
_ACCEPT_LUA = (Path(__file__).parent / "append.lua").read_text()


@dataclass(slots=True)  # one per event: not frozen, which costs ~3x to build
class Outcome:
    status: str  # "accepted" | "duplicate"
    id: str  # the accepted event's id, or the original's for a duplicate
    detail: str  # stream entry id when accepted, the duplicate reason otherwise


@dataclass(frozen=True)
class Rejection:
    """A rejected item as kept in `Keys.rejected_stream` (payload already bounded)."""

    payload: str
    reason: str
    errors: str  # JSON text: [{field, rule, message}]
    source: str
    event_type: str
    stage: str
    stat_source: str  # the low-cardinality values the counters use
    stat_event_type: str


@dataclass(slots=True)  # one per event: not frozen, which costs ~3x to build
class Item:
    """A validated event ready to append; actor_ref / entity_ref name ids to check against the known-id sets."""

    id: str
    fingerprint: str | None  # None: never fingerprint-deduplicated (no actor, no session)
    source: str
    idempotency_key: str | None
    record: bytes | str  # the event's COPY line (analytics.collect.copyrow.encode_line)
    event_type: str = ""
    actor_ref: str | None = None
    entity_kind: str | None = None
    entity_ref: str | None = None
    route: str | None = None  # the shard routing key when sharded: actor, else session (analytics.collect.shards)


@dataclass(frozen=True)
class Misses:
    """The script wrote nothing: these items (index → "actor" / "entity" / "actor,entity") named unknown ids."""

    items: dict[int, tuple[str, ...]]


class StreamWriter:
    """Appends validated events to the stream, deduplicating atomically, one round trip per call."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        *,
        fp_ttl: int = 60,
        idem_ttl: int = 3600,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 1000,
    ):
        self.client = client
        self.keys = keys
        self.fp_ttl = fp_ttl
        self.idem_ttl = idem_ttl
        self._script = _Script(client, _ACCEPT_LUA, keys.stream, wait_replicas, wait_timeout_ms)
        self._group = GroupCommit(self._execute)
        self.script_calls = 0  # how many script calls carried this writer's appends (grouped ones count once)
        self._fixed_keys = [keys.refs(k) for k in REF_KINDS]
        # The script's "no such key": "", or on hash-tagged keys the stream's (on a cluster "" is another slot).
        self._none = keys.stream if "{" in keys.stream else ""

    @classmethod
    def from_settings(cls, client: redis.Redis, settings: Settings) -> StreamWriter | ShardedWriter:
        """The writer the settings describe (keys, dedupe windows; a ShardedWriter over several shards)."""
        keys = Keys.from_settings(settings)
        options = {
            "fp_ttl": settings.fingerprint_ttl_seconds,
            "idem_ttl": settings.idempotency_ttl_seconds,
            "wait_replicas": settings.redis_wait_replicas,
            "wait_timeout_ms": int(settings.redis_timeout_seconds * 500),  # within the socket timeout
        }
        if keys.sharded:
            from analytics.collect.shards import ShardedWriter

            return ShardedWriter(client, keys, **options)
        return cls(client, keys, **options)

    def append(
        self,
        items: Sequence[Item | tuple],
        rejections: Sequence[Rejection] = (),
        *,
        rejected_at: str = "",
        now: float | None = None,
    ) -> list[Outcome] | Misses:
        """Keep `rejections`, then dedupe and append `items` (Item, or a tuple
        (id, fingerprint, source, idempotency key, record[, event type]) for no reference check).

        Returns one Outcome per item, or Misses when a reference check failed (then nothing was written).
        Concurrent calls (other threads or greenlets of this process) share one script call: see GroupCommit."""
        if not items and not rejections:
            return []
        call = Call([i if isinstance(i, Item) else Item(*i) for i in items], rejections, rejected_at, stats_bucket(now))
        return self._group.run(call)

    def _execute(self, calls: list[Call]) -> None:
        """One script call for `calls` (same stats bucket); sets each call's result. Calls whose items all passed
        the reference check are run again when another call's items missed (the script wrote nothing)."""
        none = self._none
        while calls:
            # The reply key's place is filled below, once it is known whether the call needs one.
            keys: list[str] = [self.keys.stream, self.keys.stats(calls[0].bucket), self.keys.rejected_stream, none]
            keys += self._fixed_keys
            unguarded = False  # rejections, or events nothing else deduplicates: a second run would write them twice
            args: list[Any] = [
                self.fp_ttl,
                self.idem_ttl,
                STATS_TTL_SECONDS,
                sum(len(c.rejections) for c in calls),
            ]
            for c in calls:
                unguarded |= bool(c.rejections)
                for r in c.rejections:
                    args += (
                        STAT_SEP.join((r.reason, r.stat_source, r.stat_event_type)),
                        r.payload,
                        r.reason,
                        r.errors,
                        r.source,
                        r.event_type,
                        r.stage,
                        c.rejected_at,
                    )
            fp_key, idem_key = self.keys.fingerprint, self.keys.idempotency
            for c in calls:
                for item in c.items:
                    unguarded |= not (item.fingerprint or item.idempotency_key)
                    keys += (
                        fp_key(item.fingerprint) if item.fingerprint else none,
                        idem_key(item.source, item.idempotency_key) if item.idempotency_key else none,
                    )
                    kind = REF_KIND_INDEX[item.entity_kind] if item.entity_ref and item.entity_kind else 0
                    args += (
                        item.id,
                        item.record,
                        f"{item.source}{STAT_SEP}{item.event_type}",
                        item.actor_ref or "",
                        kind,
                        item.entity_ref if kind else "",
                    )
            if unguarded:
                keys[3] = self.keys.reply(os.urandom(12).hex())
            raw = self._script(keys, args)
            self.script_calls += 1
            if not raw or _s(raw[0]) != "miss":
                self._script.confirm()
                at = 0
                for c in calls:
                    answers = raw[at : at + len(c.items)]
                    c.result = [_outcome(item, value) for item, value in zip(c.items, answers, strict=True)]
                    at += len(c.items)
                return
            pairs = raw[1:]
            missed = {int(pairs[j]) - 1: tuple(_s(pairs[j + 1]).split(",")) for j in range(0, len(pairs), 2)}
            again: list[Call] = []
            at = 0
            for c in calls:
                mine = {i - at: which for i, which in missed.items() if at <= i < at + len(c.items)}
                if mine:
                    c.result = Misses(mine)
                else:
                    again.append(c)
                at += len(c.items)
            calls = again


class _Script:
    """EVALSHA on one connection of its own (only the group commit's current leader uses it).

    redis-py 8 spends ~100 µs of CPU per command on pool checkout and telemetry hooks, more than the
    script takes to run; the hot path skips that. Errors are the same redis exceptions as usual. On a cluster the
    connection is to the node owning `slot_key`'s slot (every key of a call shares it); a MOVED reply (slots
    resharded) or a lost connection (a failover) makes it learn the slots again and retry once. With
    `wait_replicas`, each call is followed by WAIT on the same connection: the caller is answered only once that
    many replicas have the writes.
    """

    def __init__(
        self, client: redis.Redis, source: str, slot_key: str = "", wait_replicas: int = 0, wait_timeout_ms: int = 1000
    ):
        self.client = client
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()  # noqa: S324 (Redis names scripts by SHA-1)
        self.slot_key = slot_key
        self.wait = ("WAIT", wait_replicas, wait_timeout_ms) if wait_replicas > 0 else None
        self._conn = None
        self._pool = None

    def _connection(self):
        pool = pool_for(self.client, self.slot_key)
        if self._conn is None or self._pool is not pool:
            if self._conn is not None:
                self._conn.disconnect()
            self._conn, self._pool = pool.get_connection(), pool
        return self._conn

    def _run(self, conn, keys: list[str] | None, args: list[Any] | None) -> Any:
        # Packed by hiredis in one C call: redis-py's packer encodes each argument in Python first.
        try:
            conn.send_packed_command([hiredis.pack_command(("EVALSHA", self.sha, len(keys), *keys, *args))])
            return conn.read_response()
        except redis.exceptions.NoScriptError:
            conn.send_packed_command([hiredis.pack_command(("EVAL", self.source, len(keys), *keys, *args))])
            return conn.read_response()

    def confirm(self) -> None:
        """WAIT until `wait_replicas` replicas have the last call's writes (a no-op without the setting)."""
        if self.wait is None:
            return
        # The connection the call ran on, even if the slots moved since: WAIT counts that connection's writes.
        acked = self._in_step(self._conn, None, None, self.wait)
        if acked < self.wait[1]:
            # Written on the primary, not yet on a replica: a failover now could lose it, so no 202. The client's
            # retry is answered "duplicate" with the same id once the write is there.
            raise redis.ConnectionError(f"only {acked} of {self.wait[1]} replicas confirmed the write")

    def __call__(self, keys: list[str], args: list[Any]) -> Any:
        conn = self._connection()
        try:
            return self._in_step(conn, keys, args)
        except (redis.exceptions.MovedError, redis.exceptions.AskError):
            refresh(self.client)  # the cluster's slots moved: nothing ran; ask the node that owns the slot now
            return self._in_step(self._connection(), keys, args)
        except redis.ConnectionError:
            # A socket left dead by a Redis restart, or on a cluster a master gone (its replica may hold its slots
            # now): learn the slots again and retry once, reconnecting. Should the lost reply hide a script that
            # did run, the retry writes nothing twice: events with a fingerprint or an idempotency key are answered
            # "duplicate" with the same event id, and a call carrying anything else (rejections, events nothing
            # deduplicates) gets the first run's reply back from its reply key (append.lua).
            refresh(self.client)
            return self._in_step(self._connection(), keys, args)
        except redis.TimeoutError:
            refresh(self.client)  # not retried (the script may still be running), but the next call asks anew
            raise

    def _in_step(self, conn, keys: list[str] | None, args: list[Any] | None, command: tuple = ()) -> Any:
        try:
            if command:
                conn.send_command(*command)
                return conn.read_response()
            return self._run(conn, keys, args)
        except redis.ResponseError:
            raise  # a whole error reply was read: the connection is still in step
        except BaseException:
            # Timed out, lost, or interrupted (a gevent kill) between the send and the reply: a late reply must not
            # be read as the answer to the next call.
            conn.disconnect()
            raise


def _outcome(item: Item, value: bytes) -> Outcome:
    """One event's answer from the script: its stream entry id, or "=<reason>:<original id>" for a duplicate."""
    text = value.decode()
    if text[0] == "=":
        reason, _, original = text[1:].partition(":")
        return Outcome("duplicate", original, reason)
    return Outcome("accepted", item.id, text)


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
