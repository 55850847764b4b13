"""The cost of ANALYTICS_REDIS_WAIT_REPLICAS=1, for collector_bench.py --replica: a replica of the bench's private
redis-server, each paired run again with WAIT 1 right after it (same round), and the comparison."""

from __future__ import annotations

import statistics
import time

import redis

PAIRED = ("collector_single", "collector_paced", "collector_batch50")
SUFFIX = "_wait"
ENV = {"ANALYTICS_REDIS_WAIT_REPLICAS": "1"}


def wait_synced(replica_url: str, timeout: float = 60.0) -> None:
    """Return once the replica has had its first full sync (its link to the primary is up)."""
    client = redis.Redis.from_url(replica_url)
    deadline = time.monotonic() + timeout
    try:
        while client.info("replication").get("master_link_status") != "up":
            if time.monotonic() > deadline:
                raise RuntimeError("the replica did not sync with the bench's redis-server")
            time.sleep(0.1)
    finally:
        client.close()


def with_wait_runs(runs: list[tuple]) -> list[tuple]:
    """Each paired run followed by the same run with WAIT 1: neighbours in time, so a busy minute hits both."""
    out = []
    for run in runs:
        out.append(run)
        if run[0] in PAIRED:
            out.append((run[0] + SUFFIX, *run[1:]))
    return out


def summary(rounds: list[dict[str, dict]], seconds: int) -> str:
    """With and without WAIT 1 per run: best round of each side, and WAIT ÷ without paired within each round."""
    rows = []
    for name in PAIRED:
        pairs = [(r[name], r[name + SUFFIX]) for r in rounds if name in r and name + SUFFIX in r]
        if not pairs:
            continue
        ratios = [w["rps"] / max(p["rps"], 1e-9) for p, w in pairs]
        cells = []
        for side in (0, 1):
            runs = [pair[side] for pair in pairs]
            best = max(runs, key=lambda r: r["rps"])
            p99 = min(r["99"] for r in runs)
            cells.append(
                f"{best['rps']:,.0f} | {best['appended'] / seconds:,.0f} | {p99:.2f} | {sum(r['non2xx'] for r in runs)}"
            )
        rows.append(
            f"| {name} | {cells[0]} | {cells[1]} | **{statistics.median(ratios):.2f}×** "
            f"({', '.join(f'{x:.2f}' for x in ratios)}) |"
        )
    if not rows:
        return ""
    return (
        "\nWAIT cost (`ANALYTICS_REDIS_WAIT_REPLICAS=1` beside the same run without it; both against the primary with"
        " its replica;\nthe paced run's requests/s is the achieved rate, so read its p99):\n\n"
        "| run | without: requests/s | events/s | p99 ms | non-2xx | WAIT 1: requests/s | events/s | p99 ms "
        "| non-2xx | WAIT ÷ without, requests/s (rounds) |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n" + "\n".join(rows) + "\n"
    )
