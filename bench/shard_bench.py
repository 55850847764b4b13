"""Drain the same backlog with 1, 2 and 4 shards: events/s and the ratio to one shard.

    .venv/bin/python bench/shard_bench.py [--events 60000] [--shards 1 2 4] [--rounds 3]

Per round and shard count, the same N events (the loader bench's records) are routed as the collector routes them
(`analytics.collect.shards.shard_of`) into N scratch streams, then one loader process per shard (`run_load`, as each
mapped `events_load` task runs on its own Celery worker) drains them at once into a scratch database. The time is
from the processes' start to the last commit; tables truncated (and a CHECKPOINT) before each. The ceiling is the
machine's cores: the loaders, Postgres and Redis share them, so on 2 cores expect well under 2× at 2 shards and no
more at 4; the figure that transfers is the per-loader rate until Postgres' WAL saturates.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import redis
from loader_bench import _truncate, _xadd, make_record
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from analytics.collect.copyrow import stream_fields
from analytics.collect.keys import Keys
from analytics.collect.shards import shard_of
from analytics.collect.stream import Item
from analytics.config import get_settings
from analytics.db import drop_database, ensure_database
from analytics.load.job import LoaderConfig, run_load
from analytics.migrate import migrate


def _drain(dsn: str, redis_url: str, cfg: LoaderConfig, start: multiprocessing.Event) -> None:
    client = redis.Redis.from_url(redis_url)
    start.wait()
    run_load(dsn, client, cfg)
    client.close()


def _fill(client: redis.Redis, keys: Keys, records: list[dict]) -> list[LoaderConfig]:
    """Route the records into the shards' streams; one loader config per shard."""
    routed: dict[int, list[dict]] = {n: [] for n in range(keys.shards)}
    for rec in records:
        item = Item(rec["id"], None, rec["source"], rec["idempotency_key"], b"", route=rec["actor_id"])
        routed[shard_of(item, keys.shards)].append(stream_fields(rec))
    cfgs = []
    for n, shard in enumerate(keys.shard_keys):
        _xadd(client, shard.stream, routed[n])
        cfgs.append(
            LoaderConfig(
                stream=shard.stream, rejected_stream=shard.rejected_stream, consumer="bench", time_budget_s=600
            )
        )
    return cfgs


def drain(dsn: str, redis_url: str, cfgs: list[LoaderConfig]) -> float:
    """Seconds for one process per shard to drain its stream, all started together."""
    start = multiprocessing.Event()
    procs = [multiprocessing.Process(target=_drain, args=(dsn, redis_url, c, start)) for c in cfgs]
    for p in procs:
        p.start()
    time.sleep(0.5)  # let them import and connect: the start is the same for all
    t0 = time.perf_counter()
    start.set()
    for p in procs:
        p.join()
        if p.exitcode:
            raise RuntimeError(f"a loader failed (exit code {p.exitcode})")
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--shards", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    s = get_settings()
    params = conninfo_to_dict(s.database_url)
    params["dbname"] = f"analytics_bench_{uuid.uuid4().hex[:8]}"
    dsn = make_conninfo(**params)
    prefix = f"bench:{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(s.redis_url)
    ensure_database(dsn)
    try:
        migrate(dsn)
        records = [make_record(i) for i in range(args.events)]
        seconds: dict[int, list[float]] = {n: [] for n in args.shards}
        for _ in range(args.rounds):
            for n in args.shards:  # the same backlog each time; the order repeats, the machine's load drifts
                _truncate(dsn)
                keys = Keys(prefix, f"{prefix}:events", n)
                cfgs = _fill(client, keys, records)
                seconds[n].append(drain(dsn, s.redis_url, cfgs))
                client.delete(*(k for c in cfgs for k in (c.stream, c.rejected_stream)))
        rates = {n: args.events / statistics.median(v) for n, v in seconds.items()}
        base = rates.get(1) or rates[min(rates)]
        result = {
            "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "cores": os.cpu_count(),
            "events": args.events,
            "rounds": args.rounds,
            "shards": {str(n): {"events_per_s": round(r), "ratio_to_1": round(r / base, 2)} for n, r in rates.items()},
        }
        print("| shards | events/s (median) | ratio to 1 shard |\n|---:|---:|---:|")
        for n, r in rates.items():
            print(f"| {n} | {r:,.0f} | {r / base:.2f}× |")
        print(json.dumps(result, indent=2))
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))
    finally:
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            client.delete(key)
        client.close()
        drop_database(dsn)


if __name__ == "__main__":
    main()
