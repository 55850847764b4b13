"""Loader throughput against a raw psycopg COPY of the same rows, side by side, plus freshness.

    .venv/bin/python bench/loader_bench.py [--events 30000] [--rounds 5] [--rate 1000] [--seconds 20]

Uses a scratch database (created, migrated, dropped) on DATABASE_URL's server and scratch Redis keys.
Throughput: per round, the same N rows go (a) through `COPY analytics.events FROM STDIN` with psycopg's
write_row, rows already built — the baseline — and (b) through the loader from the Redis stream
(XREADGROUP, COPY of the entries' lines, key claims, commit, XACK, the run's bookkeeping). Tables truncated
(and a CHECKPOINT) before each; the order alternates per round; medians and per-round ratios reported.
Entries as the collector writes them (`--format copy`, the COPY line) or as it wrote them before
(`--format legacy`, the record as JSON).
Freshness: a separate process appends at a steady rate while one loader run follows the stream; latency is
commit time − the entry's stream id time (Redis' clock at XADD, which is when the collector answers 202).
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
from unittest.mock import patch

import psycopg
import redis
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from analytics.collect.copyrow import decode_line, encode_line, entry_record, stream_fields
from analytics.collect.events import fingerprint, new_event_id, normalise, parse_event
from analytics.config import get_settings
from analytics.db import connect, drop_database, ensure_database
from analytics.load import job as loader_module
from analytics.load.entries import decode_entry, to_lines
from analytics.load.job import COLUMNS, COPY_STAGE, LoaderConfig, run_load, write_rows
from analytics.migrate import migrate

TYPES = [
    ("asset_viewed", "asset", "ast", {"viewDurationMs": 1200}),
    ("asset_downloaded", "asset", "ast", {"format": "jpg"}),
    ("license_viewed", "license", "lic", {"viewDurationMs": 300}),
    ("project_created", "project", "prj", {}),
]


def make_record(i: int, received_at: datetime | None = None) -> dict:
    event_type, entity_type, prefix, props = TYPES[i % len(TYPES)]
    received_at = received_at or datetime.now(UTC)
    raw = {
        "eventType": event_type,
        "source": "web",
        "actorId": f"usr_{i % 50 + 1:03d}",
        "entityId": f"{prefix}_{i % 20 + 1:03d}",
        "entityType": entity_type,
        "sessionId": f"s-{i % 997}",
        "props": props,
        "attribution": {"utmSource": "newsletter", "utmMedium": "email", "landingPage": "https://example.com/a"},
    }
    if i % 10 == 0:
        raw["idempotencyKey"] = f"k-{uuid.uuid4().hex}"
    rec = normalise(
        parse_event(raw), received_at=received_at, user_agent="Mozilla/5.0 (X11; Linux x86_64)", ip_address="10.1.2.3"
    )
    rec["id"] = new_event_id()
    rec["received_at"] = received_at.isoformat().replace("+00:00", "Z")
    rec["fingerprint"] = fingerprint(rec)
    return rec


def legacy_encode(rec: dict) -> str:
    """What the collector wrote before the COPY line (`events.encode`)."""
    return json.dumps(rec, separators=(",", ":"), ensure_ascii=False)


def make_entry(i: int, received_at: datetime | None = None, fmt: str = "copy") -> dict:
    rec = make_record(i, received_at)
    return stream_fields(rec) if fmt == "copy" else {"id": rec["id"], "e": legacy_encode(rec)}


def _truncate(dsn: str) -> None:
    """Empty tables, and a checkpoint so neither contender pays for the other's WAL."""
    with connect(dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE analytics.events, analytics.idempotency_keys, analytics.load_runs")
        conn.execute("CHECKPOINT")


def _xadd(client: redis.Redis, stream: str, entries: list[dict]) -> None:
    for start in range(0, len(entries), 2000):
        pipe = client.pipeline(transaction=False)
        for fields in entries[start : start + 2000]:
            pipe.xadd(stream, fields)
        pipe.execute()


def baseline_row(sid: bytes, fields: dict[bytes, bytes]) -> tuple:
    """The row the loader stores for an entry, as a tuple (COLUMNS order)."""
    if b"r" in fields:
        return (*decode_line(fields[b"r"]).values(), sid.decode())
    return decode_entry(sid.decode(), fields)


def _cpu_s(pid: int) -> float:
    """CPU seconds a single-threaded process (a Postgres backend, Redis' main thread) has used so far."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return float("nan")  # another host, or no schedstat: CPU figures come out as NaN


class _Watched(psycopg.Connection):
    """A connection that notes its backend's CPU use when it closes (the loader opens and closes its own)."""

    backend_cpu_s: list[float] = []

    def close(self) -> None:
        if not self.closed:
            self.backend_cpu_s.append(_cpu_s(self.info.backend_pid) - self._cpu0)
        super().close()

    @classmethod
    def open(cls, dsn: str, **_: object) -> _Watched:
        conn = cls.connect(dsn, options="-c TimeZone=UTC")
        conn._cpu0 = _cpu_s(conn.info.backend_pid)
        return conn


def raw_copy(dsn: str, rows: list[tuple]) -> tuple[float, dict[str, float]]:
    _truncate(dsn)
    with connect(dsn) as conn:
        pid = conn.info.backend_pid
        pg0, py0, t = _cpu_s(pid), time.process_time(), time.perf_counter()
        with conn.cursor().copy(f"COPY analytics.events ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()
        elapsed = time.perf_counter() - t
        cpu = {"python": time.process_time() - py0, "postgres": _cpu_s(pid) - pg0}
        return elapsed, cpu


def loader(dsn: str, client: redis.Redis, cfg: LoaderConfig, entries: list[dict]) -> tuple[float, dict[str, float]]:
    _truncate(dsn)
    client.delete(cfg.stream, cfg.rejected_stream)
    _xadd(client, cfg.stream, entries)
    redis_pid = int(client.info("server")["process_id"])
    _Watched.backend_cpu_s.clear()
    rd0, py0, t = _cpu_s(redis_pid), time.process_time(), time.perf_counter()
    with patch.object(loader_module, "connect", _Watched.open):
        stats = run_load(dsn, client, cfg)
    elapsed = time.perf_counter() - t
    cpu = {
        "python": time.process_time() - py0,
        "postgres": sum(_Watched.backend_cpu_s),
        "redis (shared server)": _cpu_s(redis_pid) - rd0,
    }
    assert stats.inserted == len(entries), stats
    return elapsed, cpu


def _cpu_us_per_row(samples: list[dict[str, float]], n: int) -> dict[str, float]:
    return {k: round(statistics.median(s[k] for s in samples) / n * 1e6, 2) for k in samples[0]}


def profile(dsn: str, client: redis.Redis, stream: str, n: int) -> dict[str, float]:
    """Where the time goes, per stage, in µs per entry (one batch of n), old entry format against the new."""
    out: dict[str, float] = {}
    records = [make_record(i) for i in range(n)]
    t = time.perf_counter()
    for rec in records:
        legacy_encode(rec)
    out["collector: record → JSON (before)"] = time.perf_counter() - t
    t = time.perf_counter()
    for rec in records:
        encode_line(rec)
    out["collector: record → COPY line (now)"] = time.perf_counter() - t
    entries = client.xrange(stream, count=n)
    t = time.perf_counter()
    client.xrange(stream, count=n)
    out["redis read (XRANGE)"] = time.perf_counter() - t
    legacy = [(sid, {b"id": f[b"id"], b"e": legacy_encode(entry_record(f)).encode()}) for sid, f in entries]
    t = time.perf_counter()
    rows = [decode_entry(sid.decode(), f) for sid, f in legacy]
    out["legacy entry: JSON decode → row"] = time.perf_counter() - t
    t = time.perf_counter()
    lines = to_lines(entries).lines()
    out["entry → COPY line (to_lines)"] = time.perf_counter() - t
    _truncate(dsn)
    with connect(dsn) as conn:
        conn.execute("CREATE TEMP TABLE events_stage (LIKE analytics.events INCLUDING DEFAULTS)")
        t = time.perf_counter()
        with conn.cursor().copy(COPY_STAGE) as copy:
            for row in rows:
                copy.write_row(row)
        out["COPY stage, write_row (legacy path)"] = time.perf_counter() - t
        conn.execute("TRUNCATE events_stage")
        t = time.perf_counter()
        with conn.cursor().copy(COPY_STAGE) as copy:
            copy.write(b"".join(lines))
        out["COPY stage, lines joined (now)"] = time.perf_counter() - t
        conn.execute("DROP TABLE events_stage")
        conn.commit()
        conn.execute("CREATE TEMP TABLE events_stage (LIKE analytics.events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
        conn.commit()
        t = time.perf_counter()
        with conn.transaction():
            write_rows(conn, lines)
        out["stage + claim keys + INSERT … ON CONFLICT + commit"] = time.perf_counter() - t
    return {k: round(v / n * 1e6, 2) for k, v in out.items()}


def _produce(redis_url: str, stream: str, rate: int, seconds: float) -> None:
    client = redis.Redis.from_url(redis_url)
    tick = 0.05
    per_tick = max(1, int(rate * tick))
    start = time.monotonic()
    i = 0
    while (now := time.monotonic()) - start < seconds:
        _xadd(client, stream, [make_entry(i + k) for k in range(per_tick)])
        i += per_tick
        time.sleep(max(0.0, start + (i / rate) - time.monotonic()))
    del now


def freshness(
    dsn: str, redis_url: str, cfg: LoaderConfig, rate: int, seconds: float, cycle: tuple[float, float] | None = None
) -> dict[str, float]:
    """One following run for `seconds`; or, with cycle=(budget, gap), runs of `budget` s separated by `gap` s
    (the scheduler's start delay between two runs) for the same total time."""
    client = redis.Redis.from_url(redis_url)
    _truncate(dsn)
    client.delete(cfg.stream, cfg.rejected_stream)
    latencies: list[float] = []

    def committed(ids: list[bytes]) -> None:
        now_ms = time.time() * 1000
        latencies.extend(now_ms - int(sid.split(b"-")[0]) for sid in ids)

    producer = multiprocessing.get_context("spawn").Process(
        target=_produce, args=(redis_url, cfg.stream, rate, seconds)
    )
    producer.start()
    batches = 0
    if cycle is None:
        follow = LoaderConfig(**{**cfg.__dict__, "follow_s": seconds + 2, "time_budget_s": seconds + 5})
        batches = run_load(dsn, client, follow, after_commit=committed).batches
    else:
        budget, gap = cycle
        run = LoaderConfig(**{**cfg.__dict__, "follow_s": budget, "time_budget_s": budget})
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            batches += run_load(dsn, client, run, after_commit=committed).batches
            time.sleep(gap)
        batches += run_load(
            dsn, client, LoaderConfig(**{**cfg.__dict__, "follow_s": 0}), after_commit=committed
        ).batches
    producer.join()
    latencies.sort()
    q = statistics.quantiles(latencies, n=100)
    return {
        "events": len(latencies),
        "offered_rate_per_s": rate,
        "batches": batches,
        "p50_ms": round(q[49], 1),
        "p95_ms": round(q[94], 1),
        "max_ms": round(latencies[-1], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--format", choices=("copy", "legacy"), default="copy", help="the stream entries' format")
    parser.add_argument("--rate", type=int, default=1000, help="freshness: offered events/s")
    parser.add_argument("--seconds", type=float, default=20, help="freshness: how long to offer them")
    parser.add_argument(
        "--cycle",
        nargs=2,
        type=float,
        metavar=("BUDGET", "GAP"),
        help="freshness over scheduled runs: runs of BUDGET s, GAP s apart (e.g. 55 5 with --seconds 180)",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    s = get_settings()
    params = conninfo_to_dict(s.database_url)
    params["dbname"] = f"analytics_bench_{uuid.uuid4().hex[:8]}"
    dsn = make_conninfo(**params)
    prefix = f"bench:{uuid.uuid4().hex[:8]}"
    cfg = LoaderConfig(
        stream=f"{prefix}:events",
        rejected_stream=f"{prefix}:rejected",
        consumer="bench",
        batch_size=args.batch_size,
        time_budget_s=600,
        follow_s=0,
    )
    client = redis.Redis.from_url(s.redis_url)
    ensure_database(dsn)
    try:
        migrate(dsn)
        entries = [make_entry(i, fmt=args.format) for i in range(args.events)]
        _xadd(client, cfg.stream, [make_entry(i) for i in range(min(args.batch_size, args.events))])
        prof = profile(dsn, client, cfg.stream, min(args.batch_size, args.events))
        client.delete(cfg.stream)
        _xadd(client, cfg.stream, entries)
        rows = [baseline_row(sid, f) for sid, f in client.xrange(cfg.stream)]
        raw, load = [], []
        for r in range(args.rounds):  # alternate who goes first: the machine's load drifts
            if r % 2:
                load.append(loader(dsn, client, cfg, entries))
                raw.append(raw_copy(dsn, rows))
            else:
                raw.append(raw_copy(dsn, rows))
                load.append(loader(dsn, client, cfg, entries))
        raw_s, load_s = [x[0] for x in raw], [x[0] for x in load]
        raw_rate = args.events / statistics.median(raw_s)
        load_rate = args.events / statistics.median(load_s)
        ratios = [raw / load for raw, load in zip(raw_s, load_s, strict=True)]
        fresh = freshness(dsn, s.redis_url, cfg, args.rate, args.seconds, tuple(args.cycle) if args.cycle else None)
        result = {
            "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "events": args.events,
            "batch_size": args.batch_size,
            "format": args.format,
            "raw_copy_rows_per_s": round(raw_rate),
            "loader_rows_per_s": round(load_rate),
            "ratio": round(load_rate / raw_rate, 2),
            "ratio_per_round": [round(x, 2) for x in ratios],
            "ratio_median_of_rounds": round(statistics.median(ratios), 2),
            "rounds_raw_s": [round(x, 3) for x in raw_s],
            "rounds_loader_s": [round(x, 3) for x in load_s],
            # CPU per row, medians over the rounds: this process (all threads), the Postgres backend(s) it used,
            # and Redis' main thread (shared with anything else using that server meanwhile).
            "cpu_us_per_row": {
                "raw_copy": _cpu_us_per_row([x[1] for x in raw], args.events),
                "loader": _cpu_us_per_row([x[1] for x in load], args.events),
            },
            "profile_us_per_entry": prof,
            "freshness": fresh,
        }
        print(json.dumps(result, indent=2))
        if args.json:
            args.json.write_text(json.dumps(result, indent=2) + "\n")
    finally:
        client.delete(cfg.stream, cfg.rejected_stream)
        client.close()
        drop_database(dsn)


if __name__ == "__main__":
    main()
