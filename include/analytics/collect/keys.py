"""Every Redis key the collector writes, and the per-minute counters' bucket and field names."""

from __future__ import annotations

import time
from dataclasses import dataclass

# Which known-id set each entity type is checked against (index into the script's KEYS after the first three).
REF_KINDS = ("user", "asset", "license", "project", "payout")
REF_KIND_INDEX = {kind: n for n, kind in enumerate(REF_KINDS, start=1)}

STATS_BUCKET_SECONDS = 60
STATS_TTL_SECONDS = 26 * 3600
STAT_SEP = "|"


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
