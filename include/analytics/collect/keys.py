"""Every Redis key the collector writes, and the per-minute counters' bucket and field names."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from analytics.config import Settings

# Which known-id set each entity type is checked against (index into the script's KEYS after the first three).
REF_KINDS = ("user", "asset", "license", "project", "payout")
REF_KIND_INDEX = {kind: n for n, kind in enumerate(REF_KINDS, start=1)}

STATS_BUCKET_SECONDS = 60
STATS_TTL_SECONDS = 26 * 3600
STAT_SEP = "|"


@dataclass(frozen=True)
class Keys:
    """Every Redis key the pipeline uses, derived from the configured prefix and stream.

    With `shards` > 1, or `tagged` (a Redis Cluster), the collector writes to `shard(n)` for n in 0..shards-1
    (docs/SCALING.md); these keys (unsharded) stay the known-id sets' and the legacy stream's, which the loader
    still drains."""

    prefix: str
    stream: str
    shards: int = 1
    tagged: bool = False  # on a Redis Cluster even one shard's keys carry its hash tag (one slot per script call)

    @classmethod
    def from_settings(cls, settings: Settings) -> Keys:
        return cls(settings.key_prefix, settings.stream_key, settings.stream_shards, settings.redis_cluster)

    @property
    def sharded(self) -> bool:
        """The collector writes to `shard(n)` keys, not these."""
        return self.shards > 1 or self.tagged

    def shard(self, n: int) -> Keys:
        """Shard n's keys: each carries the Redis Cluster hash tag "{n}", so one script call stays in one slot."""
        return Keys(f"{self.prefix}:{{{n}}}", f"{self.stream}:{{{n}}}")

    @property
    def shard_keys(self) -> list[Keys]:
        """The keys the collector writes to: these when unsharded, else each shard's."""
        return [self.shard(n) for n in range(self.shards)] if self.sharded else [self]

    @property
    def loaded_keys(self) -> list[Keys]:
        """The streams the loader drains: the shards, plus the legacy stream when sharded (data written before)."""
        return [*self.shard_keys, self] if self.sharded else [self]

    def all_stats(self, bucket: int) -> list[str]:
        """Every counter hash of a minute: the shards' (the append script's) and the unsharded one (errors)."""
        return [k.stats(bucket) for k in self.loaded_keys]

    def fingerprint(self, fp: str) -> str:
        return f"{self.prefix}:fp:{fp}"

    def idempotency(self, source: str, key: str) -> str:
        return f"{self.prefix}:idem:{source}:{key}"

    def reply(self, token: str) -> str:
        """Where the append script keeps one call's reply for a minute, so that running the call again after a lost
        reply returns it instead of writing twice (append.lua)."""
        return f"{self.prefix}:reply:{token}"

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
