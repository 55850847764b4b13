"""Sharded appends (ANALYTICS_STREAM_SHARDS > 1): each event goes to one of N streams, routed by a stable key.

Route: the actor, else the session, else "source:idempotency key", else the event id. One actor's events share a
shard (so they stay in order), and so do an event and its duplicates: the fingerprint names the actor or the
session, and a retry carries the same actor, session or key (its event id is new, so the key must come first).
Every key a shard's script call touches carries the shard's hash tag (`Keys.shard`). The known-id sets are shared
by all shards: they are read here, before the shards' calls, not inside the script (on a Redis Cluster a script
cannot read keys of other slots). Ids are only ever added between cache resets, so checking first is safe.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import replace

import redis

from analytics.collect.keys import Keys
from analytics.collect.stream import Item, Misses, Outcome, Rejection, StreamWriter


def shard_of(item: Item, shards: int) -> int:
    """The item's shard: crc32 of its route key (stable across processes and restarts, unlike hash())."""
    if item.route:
        key = item.route
    elif item.idempotency_key:
        key = f"{item.source}:{item.idempotency_key}"
    else:
        key = item.id
    return zlib.crc32(key.encode()) % shards


class ShardedWriter:
    """StreamWriter's interface over N shards: one script call per shard an append touches."""

    def __init__(self, client: redis.Redis, keys: Keys, **options: int):
        self.client = client
        self.keys = keys  # unsharded: the known-id sets (RefCache) and the legacy stream
        self.writers = [StreamWriter(client, k, **options) for k in keys.shard_keys]

    @property
    def script_calls(self) -> int:
        return sum(w.script_calls for w in self.writers)

    def append(
        self,
        items: Sequence[Item | tuple],
        rejections: Sequence[Rejection] = (),
        *,
        rejected_at: str = "",
        now: float | None = None,
    ) -> list[Outcome] | Misses:
        """As StreamWriter.append. Rejections ride with the first shard's call."""
        items = [i if isinstance(i, Item) else Item(*i) for i in items]
        misses = self._unknown_refs(items)
        if misses.items:
            return misses
        groups: dict[int, list[int]] = {}
        for n, item in enumerate(items):
            groups.setdefault(shard_of(item, len(self.writers)), []).append(n)
        if not groups:
            return self.writers[0].append([], rejections, rejected_at=rejected_at, now=now)
        out: list[Outcome | None] = [None] * len(items)
        for i, (shard, picked) in enumerate(groups.items()):
            unchecked = [replace(items[n], actor_ref=None, entity_kind=None, entity_ref=None) for n in picked]
            answers = self.writers[shard].append(
                unchecked, rejections if i == 0 else (), rejected_at=rejected_at, now=now
            )
            assert not isinstance(answers, Misses)  # nothing is checked inside the script
            for n, outcome in zip(picked, answers, strict=True):
                out[n] = outcome
        return [o for o in out if o is not None]

    def _unknown_refs(self, items: list[Item]) -> Misses:
        """The items naming ids missing from the shared known-id sets, as the script would report them."""
        wanted: list[tuple[int, str, str, str]] = []  # (item, "actor" | "entity", kind, id)
        for n, item in enumerate(items):
            if item.actor_ref:
                wanted.append((n, "actor", "user", item.actor_ref))
            if item.entity_ref and item.entity_kind:
                wanted.append((n, "entity", item.entity_kind, item.entity_ref))
        if not wanted:
            return Misses({})
        by_kind: dict[str, list[str]] = {}
        for _, _, kind, id_ in wanted:
            by_kind.setdefault(kind, []).append(id_)
        pipe = self.client.pipeline(transaction=False)
        for kind, ids in by_kind.items():
            pipe.smismember(self.keys.refs(kind), ids)
        known: set[tuple[str, str]] = set()
        for (kind, ids), flags in zip(by_kind.items(), pipe.execute(), strict=True):
            known.update((kind, id_) for id_, flag in zip(ids, flags, strict=True) if flag)
        missed: dict[int, tuple[str, ...]] = {}
        for n, which, kind, id_ in wanted:
            if (kind, id_) not in known:
                missed[n] = (*missed.get(n, ()), which)
        return Misses(missed)
