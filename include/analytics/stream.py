"""Redis side of ingestion: the atomic dedupe-and-append script, rejection keeping, the stream keys."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import hiredis
import redis

# One call per request. First the reference check: if any event names an actor or entity missing from the
# known-id sets, nothing is written and the misses are returned ({"miss", index, "actor"|"entity"|"actor,entity", ...})
# so the caller can confirm them against Postgres and call again. Otherwise: keep the request's rejections,
# then dedupe and append its valid events.
# KEYS: stream, stats hash (this minute), rejected stream, known users, assets, licenses, projects, payouts,
#   then per event: fingerprint key, idempotency key ("" = none).
# ARGV: fp ttl, idem ttl, stats ttl, rejected count R, rejected maxlen (0 = unbounded), rejected_at,
#   then per rejection (7): stats suffix "reason|source|event_type", payload, reason, errors, source, event_type, stage,
#   then per event (6): id, COPY line (analytics.copyrow), stats suffix "source|event_type", actor id to check ("" = none),
#   entity set index (0 = none, 1..5 = KEYS[3 + n]), entity id.
# Checks and XADD run in one script so a fingerprint can never exist without its event.
_ACCEPT_LUA = """
local stream, stats, rejected = KEYS[1], KEYS[2], KEYS[3]
local fp_ttl, idem_ttl, stats_ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local n_rej, rej_maxlen, rejected_at = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local first_event = 6 + 7 * n_rej
local n = (#KEYS - 8) / 2
local misses = {"miss"}
for i = 1, n do
  local a = first_event + 6 * (i - 1)
  local actor, kind, entity = ARGV[a + 4], tonumber(ARGV[a + 5]), ARGV[a + 6]
  local which = {}
  if actor ~= "" and redis.call("SISMEMBER", KEYS[4], actor) == 0 then which[#which + 1] = "actor" end
  if kind > 0 and redis.call("SISMEMBER", KEYS[3 + kind], entity) == 0 then which[#which + 1] = "entity" end
  if #which > 0 then
    misses[#misses + 1] = i
    misses[#misses + 1] = table.concat(which, ",")
  end
end
if #misses > 1 then return misses end
local a = 6
for _ = 1, n_rej do
  local fields = {"payload", ARGV[a + 2], "reason", ARGV[a + 3], "errors", ARGV[a + 4], "source", ARGV[a + 5],
    "event_type", ARGV[a + 6], "stage", ARGV[a + 7], "rejected_at", rejected_at}
  if rej_maxlen > 0 then
    redis.call("XADD", rejected, "MAXLEN", "~", rej_maxlen, "*", unpack(fields))
  else
    redis.call("XADD", rejected, "*", unpack(fields))
  end
  redis.call("HINCRBY", stats, "rejected|" .. ARGV[a + 1], 1)
  a = a + 7
end
local out = {}
local counts = {}
for i = 1, n do
  local fp_key, idem_key = KEYS[7 + 2 * i], KEYS[8 + 2 * i]
  local id, payload, suffix = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  a = a + 6
  local prior = false
  local field
  if idem_key ~= "" then
    prior = redis.call("GET", idem_key)
    if prior then
      out[i] = {"duplicate", prior, "idempotency_key"}
      field = "duplicate|idempotency_key|" .. suffix
    end
  end
  if not prior then
    prior = redis.call("GET", fp_key)
    if prior then
      out[i] = {"duplicate", prior, "fingerprint"}
      field = "duplicate|fingerprint|" .. suffix
    end
  end
  if not prior then
    -- XADD first: if it fails, no fingerprint or key is left pointing at a missing event.
    -- Fields: the event id, its COPY line (analytics.copyrow), and "k" only when it has an idempotency key.
    local sid
    if idem_key ~= "" then
      sid = redis.call("XADD", stream, "*", "id", id, "r", payload, "k", "1")
    else
      sid = redis.call("XADD", stream, "*", "id", id, "r", payload)
    end
    redis.call("SET", fp_key, id, "EX", fp_ttl)
    if idem_key ~= "" then redis.call("SET", idem_key, id, "EX", idem_ttl) end
    out[i] = {"accepted", id, sid}
    field = "accepted||" .. suffix
  end
  counts[field] = (counts[field] or 0) + 1
end
for field, c in pairs(counts) do redis.call("HINCRBY", stats, field, c) end
redis.call("EXPIRE", stats, stats_ttl, "NX")  -- NX: set once per bucket, not re-propagated to the AOF on every call
return out
"""

# Which known-id set each entity type is checked against (index into the script's KEYS after the first three).
REF_KINDS = ("user", "asset", "license", "project", "payout")
_REF_KIND_INDEX = {kind: n for n, kind in enumerate(REF_KINDS, start=1)}

STATS_BUCKET_SECONDS = 60
STATS_TTL_SECONDS = 26 * 3600
STAT_SEP = "|"


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


@dataclass(frozen=True)
class Keys:
    """Every Redis key the pipeline uses, derived from the configured prefix and stream."""

    prefix: str
    stream: str

    def fingerprint(self, fp: str) -> str:
        return f"{self.prefix}:fp:{fp}"

    def idempotency(self, source: str, key: str) -> str:
        return f"{self.prefix}:idem:{source}:{key}"

    def stats(self, bucket: int) -> str:
        return f"{self.prefix}:stats:{bucket}"

    @property
    def rejected_stream(self) -> str:
        return f"{self.prefix}:rejected"

    def refs(self, kind: str) -> str:
        """Known ids of one host table (kind: user, asset, license, project, payout)."""
        return f"{self.prefix}:refs:{kind}"


def stats_bucket(at: float | None = None) -> int:
    at = time.time() if at is None else at
    return int(at // STATS_BUCKET_SECONDS) * STATS_BUCKET_SECONDS


def stat_field(outcome: str, reason: str, source: str, event_type: str) -> str:
    """The counter's hash field: "outcome|reason|source|event_type" (reason empty when accepted)."""
    return STAT_SEP.join((outcome, reason, source, event_type))


@dataclass(slots=True)  # one per event: not frozen, which costs ~3x to build
class Item:
    """A validated event ready to append; actor_ref / entity_ref name ids to check against the known-id sets."""

    id: str
    fingerprint: str
    source: str
    idempotency_key: str | None
    record: bytes | str  # the event's COPY line (analytics.copyrow.encode_line)
    event_type: str = ""
    actor_ref: str | None = None
    entity_kind: str | None = None
    entity_ref: str | None = None


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
        rejected_maxlen: int = 0,
    ):
        self.client = client
        self.keys = keys
        self.fp_ttl = fp_ttl
        self.idem_ttl = idem_ttl
        self.rejected_maxlen = rejected_maxlen
        self._script = _Script(client, _ACCEPT_LUA)
        self._fixed_keys = [keys.refs(k) for k in REF_KINDS]

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

        Returns one Outcome per item, or Misses when a reference check failed (then nothing was written)."""
        if not items and not rejections:
            return []
        keys: list[str] = [self.keys.stream, self.keys.stats(stats_bucket(now)), self.keys.rejected_stream]
        keys += self._fixed_keys
        args: list[Any] = [
            self.fp_ttl,
            self.idem_ttl,
            STATS_TTL_SECONDS,
            len(rejections),
            self.rejected_maxlen,
            rejected_at,
        ]
        for r in rejections:
            args += (
                STAT_SEP.join((r.reason, r.stat_source, r.stat_event_type)),
                r.payload,
                r.reason,
                r.errors,
                r.source,
                r.event_type,
                r.stage,
            )
        fp_key, idem_key = self.keys.fingerprint, self.keys.idempotency
        for item in items:
            if not isinstance(item, Item):
                item = Item(*item)
            keys += (
                fp_key(item.fingerprint),
                idem_key(item.source, item.idempotency_key) if item.idempotency_key else "",
            )
            kind = _REF_KIND_INDEX[item.entity_kind] if item.entity_ref and item.entity_kind else 0
            args += (
                item.id,
                item.record,
                f"{item.source}{STAT_SEP}{item.event_type}",
                item.actor_ref or "",
                kind,
                item.entity_ref if kind else "",
            )
        raw = self._script(keys, args)
        if raw and _s(raw[0]) == "miss":
            pairs = raw[1:]
            return Misses({int(pairs[j]) - 1: tuple(_s(pairs[j + 1]).split(",")) for j in range(0, len(pairs), 2)})
        return [Outcome(_s(status), _s(id_), _s(detail)) for status, id_, detail in raw]


class _Script:
    """EVALSHA on a connection each thread keeps from the pool.

    redis-py 8 spends ~100 µs of CPU per command on pool checkout and telemetry hooks, more than the
    script takes to run; the hot path skips that. Errors are the same redis exceptions as usual.
    """

    def __init__(self, client: redis.Redis, source: str):
        self.client = client
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()  # noqa: S324 (Redis names scripts by SHA-1)
        self._local = threading.local()

    def _connection(self):
        conn = getattr(self._local, "conn", None)
        pool = self.client.connection_pool
        if conn is None or getattr(self._local, "pool", None) is not pool:
            conn = pool.get_connection()
            self._local.conn, self._local.pool = conn, pool
        return conn

    def _run(self, conn, keys: list[str], args: list[Any]) -> Any:
        # Packed by hiredis in one C call: redis-py's packer encodes each argument in Python first.
        try:
            conn.send_packed_command([hiredis.pack_command(("EVALSHA", self.sha, len(keys), *keys, *args))])
            return conn.read_response()
        except redis.exceptions.NoScriptError:
            conn.send_packed_command([hiredis.pack_command(("EVAL", self.source, len(keys), *keys, *args))])
            return conn.read_response()

    def __call__(self, keys: list[str], args: list[Any]) -> Any:
        conn = self._connection()
        try:
            return self._run(conn, keys, args)
        except redis.ConnectionError:
            # A socket left dead by a Redis restart: reconnect once. Should the lost reply hide a script that
            # did run, the retry answers "duplicate" with the same event id — the dedupe makes it safe.
            conn.disconnect()
            return self._run(conn, keys, args)
        except (redis.TimeoutError, OSError):
            conn.disconnect()  # a late reply must not be read as the answer to the next call
            raise


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
