"""Collector counters and stream health: the one source for /v1/admin/stats, the monitor DAG and the dashboard.

The collector counts into one Redis hash per minute (`Keys.stats(bucket)`), field
"outcome|reason|source|event_type" (see `analytics.collect.keys.stat_field`); accepted and duplicate
are counted inside the append script, rejections in the same call.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from analytics.collect.keys import STAT_SEP, STATS_BUCKET_SECONDS, Keys, stats_bucket
from analytics.sql import load_sql

OUTCOMES = ("accepted", "duplicate", "rejected")


@dataclass(frozen=True)
class CountRow:
    outcome: str
    reason: str
    source: str
    event_type: str
    count: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _buckets(window_seconds: int, now: float | None) -> list[int]:
    """The minute buckets covering the window, ending with the current (partial) minute."""
    now = time.time() if now is None else now
    n = max(1, math.ceil(window_seconds / STATS_BUCKET_SECONDS))
    last = stats_bucket(now)
    return [last - STATS_BUCKET_SECONDS * i for i in range(n - 1, -1, -1)]


def _read(client: redis.Redis, keys: Keys, buckets: list[int]) -> list[dict[bytes, bytes]]:
    """Each bucket's counters, summed over the shards' hashes when sharded."""
    if not keys.sharded:
        pipe = client.pipeline(transaction=False)
        for b in buckets:
            pipe.hgetall(keys.stats(b))
        return pipe.execute()
    names = [keys.all_stats(b) for b in buckets]
    pipe = client.pipeline(transaction=False)
    for per_bucket in names:
        for name in per_bucket:
            pipe.hgetall(name)
    replies = iter(pipe.execute())
    out: list[dict[bytes, bytes]] = []
    for per_bucket in names:
        summed: dict[bytes, int] = defaultdict(int)
        for _ in per_bucket:
            for field, value in next(replies).items():
                summed[field] += int(value)
        out.append({f: str(v).encode() for f, v in summed.items()})
    return out


def _parse(field: bytes | str) -> tuple[str, str, str, str]:
    text = field.decode() if isinstance(field, bytes) else field
    parts = text.split(STAT_SEP, 3)
    if len(parts) < 4:  # counters written before the per-field layout
        parts = (parts + ["", "", ""])[:4]
    outcome, reason, source, event_type = parts
    return outcome, reason, source, event_type


def collector_counts(client: redis.Redis, keys: Keys, window_seconds: int, now: float | None = None) -> list[CountRow]:
    """Counts over the last `window_seconds` (whole minutes, current one included), by outcome/reason/source/type."""
    totals: dict[tuple[str, str, str, str], int] = defaultdict(int)
    for bucket in _read(client, keys, _buckets(window_seconds, now)):
        for field, value in bucket.items():
            totals[_parse(field)] += int(value)
    return [CountRow(*k, count=v) for k, v in sorted(totals.items())]


def collector_summary(client: redis.Redis, keys: Keys, window_seconds: int, now: float | None = None) -> dict:
    """totalChecks (events that reached the dedup check), accepted, duplicatesFound, rejected, deduplicationRate."""
    rows = collector_counts(client, keys, window_seconds, now)
    out: dict[str, Any] = {
        "windowSeconds": window_seconds,
        "totalChecks": 0,
        "accepted": 0,
        "duplicatesFound": 0,
        "duplicatesByReason": {},
        "rejected": 0,
        "rejectedByReason": {},
        "deduplicationRate": 0.0,
        "bySource": {},
        "byEventType": {},
    }
    for r in rows:
        if r.outcome == "accepted":
            out["accepted"] += r.count
        elif r.outcome == "duplicate":
            out["duplicatesFound"] += r.count
            out["duplicatesByReason"][r.reason] = out["duplicatesByReason"].get(r.reason, 0) + r.count
        elif r.outcome == "rejected":
            out["rejected"] += r.count
            out["rejectedByReason"][r.reason] = out["rejectedByReason"].get(r.reason, 0) + r.count
        else:
            continue
        for group, name in (("bySource", r.source), ("byEventType", r.event_type)):
            if not name:
                continue
            slot = out[group].setdefault(name, dict.fromkeys(OUTCOMES, 0))
            slot[r.outcome] += r.count
    out["totalChecks"] = out["accepted"] + out["duplicatesFound"]
    if out["totalChecks"]:
        out["deduplicationRate"] = round(out["duplicatesFound"] / out["totalChecks"], 6)
    return out


def collector_timeseries(client: redis.Redis, keys: Keys, minutes: int, now: float | None = None) -> list[dict]:
    """Per minute, oldest first: {minute (ISO 8601 UTC), accepted, duplicate, rejected}."""
    buckets = _buckets(minutes * STATS_BUCKET_SECONDS, now)
    series = []
    for b, raw in zip(buckets, _read(client, keys, buckets), strict=True):
        point: dict[str, Any] = {"minute": datetime.fromtimestamp(b, UTC).isoformat().replace("+00:00", "Z")}
        point.update(dict.fromkeys(OUTCOMES, 0))
        for field, value in raw.items():
            outcome = _parse(field)[0]
            if outcome in point:
                point[outcome] += int(value)
        series.append(point)
    return series


def accepted_by_hour(client: redis.Redis, keys: Keys, hours: list[datetime]) -> dict[datetime, int]:
    """Per whole UTC hour: the events counted accepted. Since migration 0017 an event is counted in the minute of its
    received_at, so an hour's count is the events received in it."""
    per_hour = 3600 // STATS_BUCKET_SECONDS
    buckets = [int(h.timestamp()) + STATS_BUCKET_SECONDS * i for h in hours for i in range(per_hour)]
    replies = _read(client, keys, buckets)
    return {
        hour: sum(
            int(v)
            for m in replies[n * per_hour : (n + 1) * per_hour]
            for f, v in m.items()
            if _parse(f)[0] == "accepted"
        )
        for n, hour in enumerate(hours)
    }


def _id_ms(entry_id: bytes | str) -> int:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.split("-", 1)[0])


# Enough stuck entries to say how many and who holds them; the alert needs only the first.
STUCK_SAMPLE = 100


def stream_health(
    client: redis.Redis, stream: str, group: str, now: float | None = None, *, stuck_idle_ms: int | None = None
) -> dict:
    """Length, consumer-group lag (entries not yet delivered), pending (delivered, not acked), oldest pending age.

    With `stuck_idle_ms`, also the entries pending unacknowledged for at least that long (their idle time in the
    group, XPENDING IDLE): an entry a live loader holds is idle for seconds however old it is."""
    now = time.time() if now is None else now
    length = client.xlen(stream)
    out: dict[str, Any] = {
        "stream": stream,
        "group": group,
        "groupExists": False,
        "length": length,
        "lag": length,
        "pending": 0,
        "oldestPendingId": None,
        "oldestPendingAgeSeconds": None,
        "oldestPendingIdleSeconds": None,
        "stuckPending": 0,
        "stuckIdleMinSeconds": None if stuck_idle_ms is None else stuck_idle_ms / 1000,
        "longestIdleId": None,
        "longestIdleSeconds": None,
        "longestIdleConsumer": None,
        "lastDeliveredId": None,
        # The stream's history (XINFO STREAM, Redis ≥ 7): entries ever added, which never goes back unless Redis lost
        # the stream or part of it (a restart without AOF, a failover to a lagging replica, a FLUSHALL), and the newest
        # id; the monitor compares them pass to pass (analytics.monitor.checks.check_stream_history).
        "entriesAdded": 0,
        "lastGeneratedId": None,
    }
    if not length and not client.exists(stream):
        return out
    history = client.xinfo_stream(stream)
    added = history.get("entries-added")
    out["entriesAdded"] = None if added is None else int(added)
    out["lastGeneratedId"] = _s(history.get("last-generated-id"))
    info = next((g for g in client.xinfo_groups(stream) if _s(g.get("name")) == group), None)
    if info is None:
        return out
    out["groupExists"] = True
    last = _s(info.get("last-delivered-id"))
    out["lastDeliveredId"] = last
    out["lag"] = undelivered(client, stream, last, info.get("lag"))  # XINFO's lag alone is wrong after a restart
    pending = client.xpending(stream, group)
    out["pending"] = int(pending["pending"])
    if out["pending"]:
        oldest = _s(pending["min"])
        out["oldestPendingId"] = oldest
        out["oldestPendingAgeSeconds"] = round(max(0.0, now - _id_ms(oldest) / 1000), 3)
        first = client.xpending_range(stream, group, min="-", max="+", count=1)
        if first:
            out["oldestPendingIdleSeconds"] = round(first[0]["time_since_delivered"] / 1000, 3)
    if out["pending"] and stuck_idle_ms is not None:
        stuck = client.xpending_range(stream, group, min="-", max="+", count=STUCK_SAMPLE, idle=stuck_idle_ms)
        out["stuckPending"] = len(stuck)
        if stuck:
            longest = max(stuck, key=lambda e: e["time_since_delivered"])
            out["longestIdleId"] = _s(longest["message_id"])
            out["longestIdleSeconds"] = round(longest["time_since_delivered"] / 1000, 3)
            out["longestIdleConsumer"] = _s(longest["consumer"])
    return out


def last_load(conn) -> dict | None:
    """The latest analytics.load_runs row as a dict (column names), or None before the first load."""
    cur = conn.execute(load_sql("stats/select_last_load"))
    row = cur.fetchone()
    if row is None:
        return None
    return dict(zip([c.name for c in cur.description], row, strict=True))


def _s(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


# Lag is counted from the group's last-delivered id, inside Redis (no entry crosses the wire). XINFO GROUPS' own lag
# is entries-added minus the group's entries-read, a counter Redis does not keep across a restart from the AOF:
# after one it read null, or a figure for a stream that no longer held those entries. Counting is exact while
# fewer than LAG_EXACT_UP_TO entries lie after the group's position, or before it (then XLEN minus those); past
# both, the lag is at least LAG_EXACT_UP_TO and at most the stream's length minus that.
LAG_EXACT_UP_TO = 2_000
_COUNT_AFTER_LUA = """
local n = tonumber(ARGV[2])
local after = #redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', n)
if after < n then return {after, after} end
local before = #redis.call('XRANGE', KEYS[1], '-', ARGV[1], 'COUNT', n)
local len = redis.call('XLEN', KEYS[1])
if before < n then return {len - before, len - before} end
return {n, len - n}
"""


def undelivered(client: redis.Redis, stream: str, last_delivered: bytes | str, reported: int | None = None) -> int:
    """Entries of `stream` after `last_delivered`: exact up to LAG_EXACT_UP_TO; beyond, Redis' own lag
    (`reported`, from XINFO GROUPS) when it falls within the counted bounds, else the upper bound."""
    low, high = client.eval(_COUNT_AFTER_LUA, 1, stream, _s(last_delivered), LAG_EXACT_UP_TO)
    if low == high:
        return int(low)
    return int(reported) if reported is not None and low <= int(reported) <= high else int(high)
