"""Redis side of the loader: consumer-group reads, reclaiming, safe trimming, the watermark."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import redis

Entry = tuple[bytes, dict[bytes, bytes]]


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
    prepare: Callable[[list[Entry]], Any] = list,
) -> Iterator[tuple[Any, str]]:
    """Yield (prepare(entries), "reclaimed" | "pending" | "new"): first entries a dead consumer left pending
    (XAUTOCLAIM), then this consumer's own pending ones, then new ones until the stream is empty — or, while
    `follow_until` (monotonic) is ahead, blocking for new ones. Stops at `deadline`. New batches are read,
    and prepared, in a thread while the caller loads the previous one.

    The caller acknowledges each batch before asking for the next one."""
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

    def read_new() -> tuple[list[Entry], Any]:
        now = time.monotonic()
        block = max(1, min(block_ms, int((deadline - now) * 1000))) if now < follow_until else None
        entries = _entries(client.xreadgroup(group, consumer, {stream: ">"}, count=batch_size, block=block))
        return entries, prepare(entries) if entries else None

    # The next batch is read (and prepared) while the caller loads this one: Redis' time and this thread's
    # overlap Postgres'. A batch read ahead is pending like any other, so a crash leaves it to be reclaimed.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="xreadgroup") as pool:
        ahead = pool.submit(read_new) if time.monotonic() < deadline else None
        while ahead is not None:
            entries, prepared = ahead.result()
            now = time.monotonic()
            ahead = pool.submit(read_new) if now < deadline and (entries or now < follow_until) else None
            if entries:
                yield prepared, "new"


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
    """(entries not yet delivered to the group — None when Redis can't tell, entries pending)."""
    g = _group(client, stream, group)
    if g is None:
        return None, 0
    lag = g.get("lag")
    return (int(lag) if lag is not None else None), int(g["pending"])


def forget_idle_consumers(client: redis.Redis, stream: str, group: str, consumer: str) -> None:
    """Drop this consumer and long-idle ones once they hold nothing pending (names don't pile up)."""
    for c in client.xinfo_consumers(stream, group):
        name = _s(c["name"])
        if c["pending"] == 0 and (name == consumer or c["idle"] > 3_600_000):
            client.xgroup_delconsumer(stream, group, name)


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
