"""Redis side of the loader: consumer-group reads, reclaiming, safe trimming, the watermark."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import redis

from analytics.collect.stats import undelivered
from analytics.redis_client import pool_for

# Fields as redis-py gives them (a dict), or as the reply holds them: [b"id", id, b"r", line(, b"k", b"1")].
Entry = tuple[bytes, dict[bytes, bytes] | list[bytes]]


def ensure_group(client: redis.Redis, stream: str, group: str) -> None:
    try:
        client.xgroup_create(stream, group, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def read_batches(
    client: redis.Redis,
    stream: str,
    group: str,
    consumer: str,
    *,
    batch_size: int,
    reclaim_idle_ms: int,
    deadline: float,
    follow_until: float = 0.0,
    block_ms: int = 1000,
    prepare: Callable[[list[Entry]], Any] | None = None,
) -> Iterator[tuple[Any, str]]:
    """Yield (prepare(entries), "reclaimed" | "pending" | "new"): first entries a dead consumer left pending
    (XAUTOCLAIM), then this consumer's own pending ones, then new ones until the stream is empty — or, while
    `follow_until` (monotonic) is ahead, blocking for new ones. Stops at `deadline`. New batches are read,
    and prepared, in a thread while the caller loads the previous one.

    New entries' fields come as the reply lists them ([name, value, ...]) to `prepare`; without one, every
    batch is a list of (id, {name: value}).

    The caller acknowledges each batch before asking for the next one."""
    prepare = prepare or as_dicts
    cursor: bytes | str = "0-0"
    while time.monotonic() < deadline:
        cursor, claimed, *rest = client.xautoclaim(stream, group, consumer, reclaim_idle_ms, cursor, count=batch_size)
        deleted = rest[0] if rest else []  # Redis ≥ 7 reports them; 6.2 returns two elements
        # Entries deleted while pending were dropped from the group by Redis: report them, fields empty.
        batch = list(claimed) + [(sid, {}) for sid in deleted]
        if batch:
            yield prepare(batch), "reclaimed"
        if cursor in (b"0-0", "0-0"):
            break
    while time.monotonic() < deadline:
        entries = _entries(client.xreadgroup(group, consumer, {stream: "0"}, count=batch_size))
        if not entries:
            break
        yield prepare(entries), "pending"

    reader = _RawReader(client, ("XREADGROUP", "GROUP", group, consumer, "COUNT", batch_size), stream)

    def read_new() -> tuple[list[Entry], Any]:
        now = time.monotonic()
        block = max(1, min(block_ms, int((deadline - now) * 1000))) if now < follow_until else None
        entries = reader.read(block)
        return entries, prepare(entries) if entries else None

    # The next batch is read (and prepared) while the caller loads this one: Redis' time and this thread's
    # overlap Postgres'. A batch read ahead is pending like any other, so a crash leaves it to be reclaimed.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="xreadgroup") as pool, reader:
        ahead = pool.submit(read_new) if time.monotonic() < deadline else None
        while ahead is not None:
            entries, prepared = ahead.result()
            now = time.monotonic()
            ahead = pool.submit(read_new) if now < deadline and (entries or now < follow_until) else None
            if entries:
                yield prepared, "new"


class _RawReader:
    """XREADGROUP of new entries on a connection of its own, the reply taken as hiredis parsed it.

    redis-py turns each entry into a tuple and a dict (~0.7 µs of CPU per entry, about half the read);
    the loader only needs the line from each entry's field list."""

    def __init__(self, client: redis.Redis, head: tuple, stream: str):
        self.pool = pool_for(client, stream)  # on a cluster: the node holding the stream
        self.head, self.stream = head, stream
        self.conn = None

    def __enter__(self) -> _RawReader:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.conn is not None:
            self.pool.release(self.conn)

    def read(self, block: int | None) -> list[Entry]:
        tail = ("BLOCK", block, "STREAMS", self.stream, ">") if block else ("STREAMS", self.stream, ">")
        args = (*self.head, *tail)
        if self.conn is None:
            self.conn = self.pool.get_connection()
        try:
            self.conn.send_command(*args)
            reply = self.conn.read_response()
        except BaseException:
            # A reply lost with the connection leaves its entries pending: reclaimed later, not lost.
            self.conn.disconnect()
            raise
        if not reply:
            return []
        rows = next(iter(reply.values())) if isinstance(reply, dict) else reply[0][1]  # RESP3 or RESP2
        return [(sid, fields or {}) for sid, fields in rows]


def as_dict(fields: dict[bytes, bytes] | list[bytes]) -> dict[bytes, bytes]:
    """An entry's fields as a dict, from either shape."""
    if isinstance(fields, dict):
        return fields
    it = iter(fields)
    return dict(zip(it, it, strict=False))


def as_dicts(entries: list[Entry]) -> list[tuple[bytes, dict[bytes, bytes]]]:
    return [(sid, as_dict(f)) for sid, f in entries]


def _entries(resp) -> list[Entry]:
    return [(sid, fields or {}) for sid, fields in resp[0][1]] if resp else []


def _id(value: bytes | str) -> tuple[int, int]:
    text = value.decode() if isinstance(value, bytes) else value
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def _group(client: redis.Redis, stream: str, group: str) -> dict | None:
    for g in client.xinfo_groups(stream):
        if g["name"] in (group, group.encode()):
            return g
    return None


def trim_acknowledged(client: redis.Redis, stream: str) -> int:
    """XTRIM MINID below the oldest entry some group still needs (pending, or not yet delivered).

    Never MAXLEN: that could drop entries no one has loaded. Returns the number of entries removed."""
    if not client.exists(stream):
        return 0
    bound: tuple[int, int] | None = None
    for g in client.xinfo_groups(stream):
        if g["pending"]:
            needed = _id(client.xpending(stream, g["name"])["min"])
        else:
            ms, seq = _id(g["last-delivered-id"])
            needed = (ms, seq + 1)
        bound = needed if bound is None else min(bound, needed)
    if bound is None:  # no group yet: nothing is known to be loaded
        return 0
    return int(client.xtrim(stream, minid=f"{bound[0]}-{bound[1]}", approximate=False))


def watermark(client: redis.Redis, streams: Iterable[str], group: str, margin_ms: int) -> datetime:
    """Every event received before the returned time is committed (see migration 0004).

    Stream ids carry Redis' clock at XADD; an entry not yet loaded is pending or undelivered, or it will
    be appended after `now` (so its id is later). The margin covers the collector's receive→XADD gap."""
    sec, usec = client.time()
    bound = sec * 1000 + usec // 1000  # taken before looking, so later appends are above it
    for stream in streams:
        if not client.exists(stream):
            continue
        g = _group(client, stream, group)
        last = g["last-delivered-id"] if g else b"0-0"
        if g and g["pending"]:
            bound = min(bound, _id(client.xpending(stream, group)["min"])[0])
        nxt = client.xrange(stream, min=f"({_s(last)}", max="+", count=1)
        if nxt:
            bound = min(bound, _id(nxt[0][0])[0])
    return datetime.fromtimestamp((bound - margin_ms) / 1000, UTC)


def backlog(client: redis.Redis, stream: str, group: str) -> tuple[int | None, int]:
    """(entries not yet delivered to the group — None without a group, entries pending)."""
    g = _group(client, stream, group)
    if g is None:
        return None, 0
    return undelivered(client, stream, g["last-delivered-id"], g.get("lag")), int(g["pending"])


def forget_idle_consumers(client: redis.Redis, stream: str, group: str, consumer: str) -> None:
    """Drop this consumer and long-idle ones once they hold nothing pending (names don't pile up)."""
    for c in client.xinfo_consumers(stream, group):
        name = _s(c["name"])
        if c["pending"] == 0 and (name == consumer or c["idle"] > 3_600_000):
            client.xgroup_delconsumer(stream, group, name)


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
