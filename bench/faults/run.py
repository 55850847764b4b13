"""The fault suite: crashes and bad input against a private stack, with per-event accounting.

    .venv/bin/python -m bench.faults.run [--events 5000] [--only loader_sigkill,poison]    (or `make faults`)

Starts its own PostgreSQL (initdb), Redis (AOF, fsync always) and collector (gunicorn) on free loopback ports,
runs each scenario (bench/faults/scenarios.py), prints one line per scenario and removes everything it started.
A scenario passes when every event the collector accepted is in analytics.events exactly once, under the id it
was answered with (retries carry the same idempotency keys), and its own checks hold. Exit status 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime

from bench.faults.client import account
from bench.faults.scenarios import SCENARIOS
from bench.faults.stack import Stack


def machine() -> str:
    model = next(
        (line.split(":", 1)[1].strip() for line in subprocess.run(
            ["lscpu"], capture_output=True, text=True, check=False
        ).stdout.splitlines() if line.startswith("Model name")),
        platform.processor() or "?",
    )  # fmt: skip
    return f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=5000, help="good events per scenario")
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    opts = parser.parse_args()
    names = [n for n in opts.only.split(",") if n] or list(SCENARIOS)
    print(f"fault suite, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}, {opts.events} events per scenario")
    failed = 0
    stack = Stack()
    try:
        for name in names:
            t0 = time.monotonic()
            tally, checks = SCENARIOS[name](stack, opts.events)
            with stack.db() as conn:
                figures = account(conn, tally)
            ok = figures["lost"] == tally.expected_lost and figures["duplicated"] == tally.unanswered == 0
            ok = ok and all(checks.values())
            ok = ok and figures["accepted"] - tally.expected_lost == figures["loaded"] - figures["unanswered_loaded"]
            failed += not ok
            notes = "; ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in checks.items())
            print(
                f"{name:<24} sent {figures['sent']:>6}  accepted {figures['accepted']:>6}  loaded {figures['loaded']:>6}"
                f"  lost {figures['lost']}{f' (of {tally.expected_lost} expected)' if tally.expected_lost else ''}"
                f"  duplicated {figures['duplicated']}  client errors {tally.client_errors:>5}"
                f"  retried {tally.server_errors:>4}  {time.monotonic() - t0:5.1f} s  {'ok' if ok else 'FAIL'}"
                f"  ({notes})",
                flush=True,
            )
    finally:
        stack.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
