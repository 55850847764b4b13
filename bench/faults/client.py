"""Clients that keep per-event accounting: each event has an idempotency key, a failed request is retried with the
same keys until it is answered, and the tally says what became of every key."""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

RETRY_FOR_S = 90.0  # a request still failing after this long counts as not accepted (and the scenario fails)


def event(key: str, n: int) -> dict[str, Any]:
    """A valid event, distinct by session (so no fingerprint match), on the seed's users and assets."""
    return {
        "eventType": "asset_viewed",
        "source": "web",
        "actorId": f"usr_{n % 50 + 1:03d}",
        "entityId": f"ast_{n % 100 + 1:03d}",
        "entityType": "asset",
        "sessionId": key,
        "idempotencyKey": key,
        "occurredAt": datetime.now(UTC).isoformat(),
        "props": {"viewDurationMs": n},
    }


@dataclass
class Tally:
    """What became of each key: the id the collector gave it (accepted or duplicate), and the refused requests."""

    sent: set[str] = field(default_factory=set)
    ids: dict[str, str] = field(default_factory=dict)
    client_errors: int = 0
    server_errors: int = 0  # 5xx and broken connections, each retried
    duplicates: int = 0  # events answered "duplicate": a retry of a request that had landed
    unanswered: int = 0  # requests given up after RETRY_FOR_S
    expected_lost: int = 0  # a scenario that makes Redis lose data says how many accepted events that must cost
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answered(self, results: list[dict[str, Any]], keys: list[str]) -> None:
        with self.lock:
            for key, result in zip(keys, results, strict=True):
                if result.get("status") in ("accepted", "duplicate"):
                    self.ids.setdefault(key, result["id"])
                    self.duplicates += result["status"] == "duplicate"
                else:
                    self.client_errors += 1


class Sender:
    """One keep-alive connection; `batch()` posts events and retries failures with the same keys."""

    def __init__(self, base: str, tally: Tally) -> None:
        self.host, port = base.removeprefix("http://").split(":")
        self.port = int(port)
        self.tally = tally
        self.conn: http.client.HTTPConnection | None = None

    def request(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """One attempt: (status, body), or (0, b"") when the connection broke."""
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
            self.conn.request("POST", path, body, headers)
            resp = self.conn.getresponse()
            data = resp.read()
            if resp.getheader("Connection", "").lower() == "close":
                self.close()
            return resp.status, data
        except (OSError, http.client.HTTPException):
            self.close()
            return 0, b""

    def batch(self, events: list[dict[str, Any]]) -> None:
        keys = [e["idempotencyKey"] for e in events]
        with self.tally.lock:
            self.tally.sent.update(keys)
        body = json.dumps({"events": events}).encode()
        deadline = time.monotonic() + RETRY_FOR_S
        while True:
            status, data = self.request("/v1/track/batch", body, {"Content-Type": "application/json"})
            if status == 200:
                self.tally.answered(json.loads(data)["results"], keys)
                return
            if 400 <= status < 500:
                with self.tally.lock:
                    self.tally.client_errors += len(keys)
                return
            with self.tally.lock:
                self.tally.server_errors += 1
            if time.monotonic() > deadline:
                with self.tally.lock:
                    self.tally.unanswered += 1
                return
            time.sleep(0.2)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def send(base: str, tally: Tally, prefix: str, count: int, *, threads: int = 4, per_batch: int = 20) -> None:
    """`count` events as batches over `threads` connections, keys `prefix-n`."""

    def worker(t: int) -> None:
        sender = Sender(base, tally)
        try:
            for start in range(t * per_batch, count, threads * per_batch):
                n = range(start, min(start + per_batch, count))
                sender.batch([event(f"{prefix}-{i}", i) for i in n])
        finally:
            sender.close()

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()


def account(conn, tally: Tally) -> dict[str, int]:
    """Against analytics.events: every answered key loaded once, under the id it was answered with."""
    rows = conn.execute(
        "SELECT idempotency_key, id::text FROM analytics.events WHERE idempotency_key = ANY(%s)", (list(tally.sent),)
    ).fetchall()
    loaded: dict[str, list[str]] = {}
    for key, eid in rows:
        loaded.setdefault(key, []).append(eid)
    return {
        "sent": len(tally.sent),
        "accepted": len(tally.ids),
        "loaded": len(loaded),
        "lost": sum(1 for key, eid in tally.ids.items() if eid not in loaded.get(key, ())),
        "duplicated": sum(len(ids) - 1 for ids in loaded.values()),
        "unanswered_loaded": sum(1 for key in loaded if key not in tally.ids),
    }
