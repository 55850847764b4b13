"""Redis side of ingestion: the atomic dedupe-and-append script, stats counters, the stream keys."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis

# KEYS: stream, stats hash, then per event: fingerprint key, idempotency key ("" = none).
# ARGV: fp ttl, idem ttl, stats ttl, then per event: id, fields JSON payload.
# Checks and XADD run in one script so a fingerprint can never exist without its event.
_ACCEPT_LUA = """
local stream, stats = KEYS[1], KEYS[2]
local fp_ttl, idem_ttl, stats_ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
local n = (#KEYS - 2) / 2
for i = 1, n do
  local fp_key, idem_key = KEYS[2 + 2 * i - 1], KEYS[2 + 2 * i]
  local id, payload = ARGV[3 + 2 * i - 1], ARGV[3 + 2 * i]
  local prior = false
  if idem_key ~= "" then
    prior = redis.call("GET", idem_key)
    if prior then
      out[i] = {"duplicate", prior, "idempotency_key"}
      redis.call("HINCRBY", stats, "duplicate:idempotency_key", 1)
    end
  end
  if not prior then
    prior = redis.call("GET", fp_key)
    if prior then
      out[i] = {"duplicate", prior, "fingerprint"}
      redis.call("HINCRBY", stats, "duplicate:fingerprint", 1)
    end
  end
  if not prior then
    local sid = redis.call("XADD", stream, "*", "id", id, "e", payload)
    redis.call("SET", fp_key, id, "EX", fp_ttl)
    if idem_key ~= "" then redis.call("SET", idem_key, id, "EX", idem_ttl) end
    redis.call("HINCRBY", stats, "accepted", 1)
    out[i] = {"accepted", id, sid}
  end
end
redis.call("EXPIRE", stats, stats_ttl)
return out
"""

STATS_BUCKET_SECONDS = 60
STATS_TTL_SECONDS = 26 * 3600


@dataclass(frozen=True)
class Outcome:
    status: str  # "accepted" | "duplicate"
    id: str  # the accepted event's id, or the original's for a duplicate
    detail: str  # stream entry id when accepted, the duplicate reason otherwise


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


def stats_bucket(at: float | None = None) -> int:
    at = time.time() if at is None else at
    return int(at // STATS_BUCKET_SECONDS) * STATS_BUCKET_SECONDS


class StreamWriter:
    """Appends validated events to the stream, deduplicating atomically, one round trip per call."""

    def __init__(self, client: redis.Redis, keys: Keys, *, fp_ttl: int = 60, idem_ttl: int = 3600):
        self.client = client
        self.keys = keys
        self.fp_ttl = fp_ttl
        self.idem_ttl = idem_ttl
        self._script = client.register_script(_ACCEPT_LUA)

    def append(self, items: Sequence[tuple[str, str, str, str | None, str]]) -> list[Outcome]:
        """items: (event id, fingerprint, source, idempotency key or None, encoded record)."""
        if not items:
            return []
        keys: list[str] = [self.keys.stream, self.keys.stats(stats_bucket())]
        args: list[Any] = [self.fp_ttl, self.idem_ttl, STATS_TTL_SECONDS]
        for event_id, fp, source, idem, payload in items:
            keys.append(self.keys.fingerprint(fp))
            keys.append(self.keys.idempotency(source, idem) if idem else "")
            args.append(event_id)
            args.append(payload)
        raw = self._script(keys=keys, args=args)
        return [Outcome(_s(r[0]), _s(r[1]), _s(r[2])) for r in raw]


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
