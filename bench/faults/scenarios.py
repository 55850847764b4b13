"""The fault scenarios: each breaks one part of the private stack while events flow, then drains and accounts.

Each returns (tally, checks): checks are the scenario's own conditions beyond the accounting (name → held)."""

from __future__ import annotations

import gzip
import json
import logging
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from analytics.collect.keys import Keys
from bench.faults.client import Sender, Tally, event, send
from bench.faults.stack import STREAM, Stack

Checks = dict[str, bool]


def _wait(condition: Callable[[], bool], timeout_s: float = 60) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _kill_loader_mid_drain(stack: Stack, n: int, fault: Callable[[], None]) -> Checks:
    """Start a loader on `n` waiting events, apply `fault` once some (not all) are loaded."""
    before = stack.loaded()
    proc = stack.start_loader()
    mid = _wait(lambda: stack.loaded() > before or proc.poll() is not None)
    mid = mid and proc.poll() is None and stack.loaded() < before + n
    fault()
    return {"fault hit mid-drain": mid}


def loader_sigkill(stack: Stack, n: int) -> tuple[Tally, Checks]:
    tally = Tally()
    send(stack.base, tally, "loader-kill", n)
    checks = _kill_loader_mid_drain(stack, n, stack.kill_loader)
    stack.drain()
    return tally, checks


def postgres_immediate_stop(stack: Stack, n: int) -> tuple[Tally, Checks]:
    tally = Tally()
    send(stack.base, tally, "pg-stop", n)

    def stop_postgres() -> None:
        stack.pg.stop()  # pg_ctl -m immediate: no shutdown checkpoint, crash recovery on the next start
        failed = stack.loader.wait(timeout=60) != 0 if stack.loader else False
        checks["loader failed"] = failed
        stack.loader = None
        stack.pg.start()

    checks: Checks = {}
    checks.update(_kill_loader_mid_drain(stack, n, stop_postgres))
    stack.drain()
    return tally, checks


def _while_sending(stack: Stack, prefix: str, n: int, fault: Callable[[Tally], None]) -> Tally:
    """Send `n` events on a thread; apply `fault` once a quarter of them are answered."""
    tally = Tally()
    sender = threading.Thread(target=send, args=(stack.base, tally, prefix, n))
    sender.start()
    _wait(lambda: len(tally.ids) >= n // 4)
    fault(tally)
    sender.join()
    stack.drain()
    return tally


def _retried(tally: Tally) -> Checks:
    """The fault did fail requests (else it proved nothing); how many retried events had landed before."""
    return {f"requests retried, {tally.duplicates} events answered duplicate": tally.server_errors > 0}


def redis_sigkill(stack: Stack, n: int) -> tuple[Tally, Checks]:
    def fault(tally: Tally) -> None:
        stack.redis.kill()
        time.sleep(1)
        stack.redis.start()  # replays the AOF (appendfsync always): every 202 was written before it was answered

    tally = _while_sending(stack, "redis-kill", n, fault)
    return tally, _retried(tally)


def redis_no_aof_restart(stack: Stack, n: int) -> tuple[Tally, Checks]:
    """Redis comes back empty (killed, its AOF gone: what a Redis without persistence does on any restart) while
    accepted events wait for the loader. Those are lost, and no client resends them: the scenario passes when the
    loss is exactly the events that were waiting, and the monitor's next pass pages monitor.stream_lost naming
    that number (the pass before the restart saw them waiting)."""
    from analytics.config import Settings
    from analytics.monitor.job import monitor

    settings = Settings.from_env(stack.env)
    logging.getLogger("analytics.monitor.alerts").addHandler(logging.NullHandler())  # the page: checked, not printed
    tally = Tally()
    send(stack.base, tally, "no-aof-loaded", n // 2)
    stack.drain()
    waiting = n // 4
    send(stack.base, tally, "no-aof-waiting", waiting)
    client = stack.client()
    try:
        before = monitor(stack.pg.url, client, settings, datetime.now(UTC))
        stack.redis.kill()
        shutil.rmtree(Path(stack.redis.dir) / "appendonlydir", ignore_errors=True)
        stack.redis.start()
        send(stack.base, tally, "no-aof-after", n - n // 2 - waiting)
        after = monitor(stack.pg.url, client, settings, datetime.now(UTC))
    finally:
        client.close()
    stack.drain()
    with stack.db() as conn:
        row = conn.execute(
            "SELECT undelivered_before + pending_before FROM analytics.stream_losses WHERE stream = %s", (STREAM,)
        ).fetchall()
    tally.expected_lost = waiting
    return tally, {
        "no alert before": "monitor.stream_lost" not in before["alerts"]["fired"],
        "monitor paged stream_lost": "monitor.stream_lost" in after["alerts"]["fired"],
        f"it named {waiting} waiting": row == [(waiting,)],
    }


def redis_sigstop(stack: Stack, n: int) -> tuple[Tally, Checks]:
    def fault(tally: Tally) -> None:
        assert stack.redis.proc is not None
        os.kill(stack.redis.proc.pid, signal.SIGSTOP)
        try:
            time.sleep(3)  # past the collector's Redis timeout (1 s): calls time out, some after reaching Redis
        finally:
            os.kill(stack.redis.proc.pid, signal.SIGCONT)

    tally = _while_sending(stack, "redis-stop", n, fault)
    return tally, _retried(tally)


def collector_sigterm(stack: Stack, n: int) -> tuple[Tally, Checks]:
    """SIGTERM while clients send: gunicorn drains in-flight and keep-alive requests, so a graceful stop may fail no
    request at all (then "retried" reads 0, which is the goal, not a miss); what must hold is that it came mid-send,
    the collector exited 0, and the accounting (nothing lost, nothing doubled)."""
    checks: Checks = {}

    def fault(tally: Tally) -> None:
        with tally.lock:
            answered = len(tally.ids)
        checks["fault hit mid-send"] = answered < n
        checks["collector exited 0"] = stack.stop_collector(signal.SIGTERM) == 0
        stack.start_collector()

    tally = _while_sending(stack, "collector-term", n, fault)
    return tally, checks


def poison(stack: Stack, n: int) -> tuple[Tally, Checks]:
    """Every poison entry of tests/load/test_loader_poison.py, plus a NUL key through the collector, among good
    events: the bad ones are set aside with their reason, every good one loads."""
    from tests.load.test_loader_poison import POISON_REJECTIONS, ROW_ERROR_CLASSES

    client = stack.client()
    rejected_stream = Keys("analytics", STREAM).rejected_stream
    sids = [client.xadd(rejected_stream, fields).decode() for fields in POISON_REJECTIONS.values()]
    sids += [client.xadd(STREAM, fields).decode() for fields, _ in ROW_ERROR_CLASSES.values()]
    client.close()
    tally = Tally()
    sender = Sender(stack.base, tally)
    status, _ = sender.request("/v1/track", b'{"bad\\u0000key": 1}', {"Content-Type": "application/json"})
    sender.close()
    tally.client_errors += status == 400
    send(stack.base, tally, "poison", n)
    stack.drain()
    with stack.db() as conn:
        kept = conn.execute("SELECT count(*) FROM analytics.rejected_events WHERE stream_id = ANY(%s)", (sids,))
        kept_n = kept.fetchone()[0]
    return tally, {"NUL key refused": status == 400, f"{len(sids)} poison entries set aside": kept_n == len(sids)}


def _malformed_requests() -> list[tuple[str, bytes, dict[str, str]]]:
    """(path, body, headers) of every kind of bad request; the slow ones (huge bodies, bombs) fewer times."""
    js = {"Content-Type": "application/json"}
    gz = {**js, "Content-Encoding": "gzip"}
    good = json.dumps(event("x", 1)).encode()
    cheap = [
        ("/v1/track", b'{"eventType": ', js),
        ("/v1/track", b'{"eventType": "asset_viewed", "source": "w\xff\xfe"}', js),  # bad UTF-8
        ("/v1/track", b"[" * 100_000 + b"]" * 100_000, js),  # deep nesting
        ("/v1/track/batch", b'{"events": [' + b"[" * 5_000 + b"]" * 5_000 + b"]}", js),
        ("/v1/track", good.replace(b'"viewDurationMs": 1', b'"viewDurationMs": NaN'), js),
        ("/v1/track", b'{"bad\\u0000key": 1}', js),
        ("/v1/track", b'{"a": "\\ud800"}', js),
        ("/v1/track", good, {"Content-Type": "application/xml"}),  # text/plain is a beacon's, so accepted
        ("/segment/v1/batch", b"\x1f\x8b\x08\x00not gzip at all", gz),
        ("/segment/v1/batch", gzip.compress(b'{"batch": [')[:-6], gz),  # truncated
    ]
    costly = [
        ("/v1/track", b'{"a": "' + b"x" * 2_000_000 + b'"}', js),  # over the body limit
        ("/segment/v1/batch", gzip.compress(b" " * 200_000_000, compresslevel=9), gz),  # bomb: 200 KB → 200 MB
        ("/segment/v1/batch", gzip.compress(b'{"batch": ["' + b"a" * 5_000_000 + b'"]}'), gz),
    ]
    return cheap * 300 + costly * 20


def malformed(stack: Stack, n: int) -> tuple[Tally, Checks]:
    """A few thousand bad requests on two connections while good events flow on others: each gets a 4xx in the
    envelope (never a 5xx or a reset), the good events all load."""
    requests = _malformed_requests()
    tally = Tally()
    bad = Tally()
    answers: dict[int, int] = {}

    def hammer(part: list[tuple[str, bytes, dict[str, str]]]) -> None:
        sender = Sender(stack.base, bad)
        for path, body, headers in part:
            status, data = sender.request(path, body, headers)
            enveloped = status == 0 or "code" in json.loads(data or b"{}")
            with bad.lock:
                answers[status] = answers.get(status, 0) + 1
                bad.client_errors += 400 <= status < 500 and enveloped
        sender.close()

    threads = [threading.Thread(target=hammer, args=(requests[i::2],)) for i in range(2)]
    for t in threads:
        t.start()
    send(stack.base, tally, "malformed-good", n)
    for t in threads:
        t.join()
    stack.drain()
    tally.client_errors = bad.client_errors
    tally.sent |= {f"bad-{i}" for i in range(len(requests))}
    refused = sum(v for k, v in answers.items() if 400 <= k < 500)
    return tally, {f"{len(requests)} bad requests all 4xx in the envelope": bad.client_errors == len(requests)} | {
        f"answers {dict(sorted(answers.items()))}": refused == len(requests)
    }


SCENARIOS: dict[str, Callable[[Stack, int], tuple[Tally, Checks]]] = {
    "loader_sigkill": loader_sigkill,
    "postgres_immediate_stop": postgres_immediate_stop,
    "redis_sigkill": redis_sigkill,
    "redis_sigstop": redis_sigstop,
    "redis_no_aof_restart": redis_no_aof_restart,
    "collector_sigterm": collector_sigterm,
    "poison": poison,
    "malformed": malformed,
}
