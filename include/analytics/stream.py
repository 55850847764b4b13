"""Redis side of ingestion: the atomic dedupe-and-append script, rejection keeping, the stream keys."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis

# One call per request: keeps the request's rejections, then dedupes and appends its valid events.
# KEYS: stream, stats hash (this minute), rejected stream, then per event: fingerprint key, idempotency key ("" = none).
# ARGV: fp ttl, idem ttl, stats ttl, rejected count R, rejected maxlen (0 = unbounded), rejected_at,
#   then per rejection (7): stats suffix "reason|source|event_type", payload, reason, errors, source, event_type, stage,
#   then per event (3): id, encoded record, stats suffix "source|event_type".
# Checks and XADD run in one script so a fingerprint can never exist without its event.
_ACCEPT_LUA = """
local stream, stats, rejected = KEYS[1], KEYS[2], KEYS[3]
local fp_ttl, idem_ttl, stats_ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local n_rej, rej_maxlen, rejected_at = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
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
local n = (#KEYS - 3) / 2
for i = 1, n do
  local fp_key, idem_key = KEYS[2 + 2 * i], KEYS[3 + 2 * i]
  local id, payload, suffix = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  a = a + 3
  local prior = false
  if idem_key ~= "" then
    prior = redis.call("GET", idem_key)
    if prior then
      out[i] = {"duplicate", prior, "idempotency_key"}
      redis.call("HINCRBY", stats, "duplicate|idempotency_key|" .. suffix, 1)
    end
  end
  if not prior then
    prior = redis.call("GET", fp_key)
    if prior then
      out[i] = {"duplicate", prior, "fingerprint"}
      redis.call("HINCRBY", stats, "duplicate|fingerprint|" .. suffix, 1)
    end
  end
  if not prior then
    local sid = redis.call("XADD", stream, "*", "id", id, "e", payload)
    redis.call("SET", fp_key, id, "EX", fp_ttl)
    if idem_key ~= "" then redis.call("SET", idem_key, id, "EX", idem_ttl) end
    redis.call("HINCRBY", stats, "accepted||" .. suffix, 1)
    out[i] = {"accepted", id, sid}
  end
end
redis.call("EXPIRE", stats, stats_ttl)
return out
"""

STATS_BUCKET_SECONDS = 60
STATS_TTL_SECONDS = 26 * 3600
STAT_SEP = "|"


@dataclass(frozen=True)
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

    @property
    def refs(self) -> str:
        return f"{self.prefix}:refs"


def stats_bucket(at: float | None = None) -> int:
    at = time.time() if at is None else at
    return int(at // STATS_BUCKET_SECONDS) * STATS_BUCKET_SECONDS


def stat_field(outcome: str, reason: str, source: str, event_type: str) -> str:
    """The counter's hash field: "outcome|reason|source|event_type" (reason empty when accepted)."""
    return STAT_SEP.join((outcome, reason, source, event_type))


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
        self._script = client.register_script(_ACCEPT_LUA)

    def append(
        self,
        items: Sequence[tuple[str, str, str, str | None, str] | tuple[str, str, str, str | None, str, str]],
        rejections: Sequence[Rejection] = (),
        *,
        rejected_at: str = "",
        now: float | None = None,
    ) -> list[Outcome]:
        """items: (event id, fingerprint, source, idempotency key or None, encoded record[, event type]).

        Rejections are kept and counted in the same round trip."""
        if not items and not rejections:
            return []
        keys: list[str] = [self.keys.stream, self.keys.stats(stats_bucket(now)), self.keys.rejected_stream]
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
        for item in items:
            event_id, fp, source, idem, payload = item[:5]
            event_type = item[5] if len(item) > 5 else ""
            keys.append(self.keys.fingerprint(fp))
            keys.append(self.keys.idempotency(source, idem) if idem else "")
            args += (event_id, payload, f"{source}{STAT_SEP}{event_type}")
        raw = self._script(keys=keys, args=args)
        return [Outcome(_s(r[0]), _s(r[1]), _s(r[2])) for r in raw]


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
