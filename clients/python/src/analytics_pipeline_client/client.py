"""A client for the collector's `POST /v1/track/batch` that batches in the background.

- flush at `flush_at` events or `flush_interval` seconds after the oldest queued one (100 / 10 s);
- every event gets an `idempotencyKey` once, when queued, so a retry is never counted twice;
- network errors, 5xx and 429 are retried with exponential backoff and full jitter (Retry-After honoured);
  other 4xx are permanent; a 413 splits the batch;
- the queue is bounded: a full queue drops the event and counts it (`stats.dropped`);
- `flush()`, interpreter exit and SIGTERM drain the queue; `sync_mode=True` sends in the caller's thread;
- safe to create before a fork: each child process gets its own sender.

Standard library only (plus pydantic, through the shared schema).
"""

from __future__ import annotations

import atexit
import functools
import json
import logging
import os
import random
import signal
import threading
import time
import urllib.error
import urllib.request
import uuid
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from analytics_pipeline_client.helpers import (
    AssetEventHelpers,
    EngagementEventHelpers,
    LicenseEventHelpers,
    PaymentEventHelpers,
    ProjectEventHelpers,
    UserEventHelpers,
    validate_event,
)

log = logging.getLogger("analytics_pipeline_client")

USER_AGENT = "analytics-client-python/0.1"
ErrorCallback = Callable[[str, list[dict[str, Any]], Any], None]  # (reason, events, detail)


class DeliveryError(Exception):
    """Sync mode: the collector refused the events for good, or retries ran out."""

    def __init__(self, reason: str, detail: Any = None):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class _Transient(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class ClientStats:
    queued: int = 0
    dropped: int = 0  # refused because the queue was full
    requests: int = 0
    retries: int = 0
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0  # the collector refused the event (it is kept there, with the reason)
    failed: int = 0  # permanent HTTP error or retries exhausted

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class Client:
    def __init__(
        self,
        host: str,
        write_key: str | None = None,
        *,
        source: str = "server",
        flush_at: int = 100,
        flush_interval: float = 10.0,
        max_queue_size: int = 10_000,
        max_batch_size: int = 50,
        max_retries: int = 8,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        timeout: float = 10.0,
        shutdown_timeout: float = 10.0,
        sync_mode: bool = False,
        handle_sigterm: bool = True,
        on_error: ErrorCallback | None = None,
        extra_sources: Iterable[str] = (),
    ):
        self.url = host.rstrip("/") + "/v1/track/batch"
        self.write_key = write_key
        self.flush_at = max(1, flush_at)
        self.flush_interval = flush_interval
        self.max_queue_size = max_queue_size
        self.max_batch_size = max(1, max_batch_size)
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.timeout = timeout
        self.shutdown_timeout = shutdown_timeout
        self.sync_mode = sync_mode
        self.on_error = on_error
        self.extra_sources = tuple(extra_sources)  # the collector's ANALYTICS_EXTRA_SOURCES, if it has some
        self.stats = ClientStats()

        self.assets = AssetEventHelpers(self, source=source)
        self.licenses = LicenseEventHelpers(self, source=source)
        self.projects = ProjectEventHelpers(self, source=source)
        self.payments = PaymentEventHelpers(self, source=source)
        self.users = UserEventHelpers(self, source=source)
        self.engagement = EngagementEventHelpers(self, source=source)

        # Reentrant: a SIGTERM handler runs on the main thread, possibly while it holds this lock in track().
        self._cond = threading.Condition(threading.RLock())
        self._queue: deque[tuple[float, dict[str, Any]]] = deque()
        self._in_flight = 0
        self._flush_requested = False
        self._closed = False
        self._thread: threading.Thread | None = None
        if not sync_mode:
            self._start()
            atexit.register(self.shutdown)
            # A forked child (gunicorn --preload, multiprocessing) inherits no sender thread; give it its own.
            os.register_at_fork(after_in_child=functools.partial(_restart_in_child, weakref.ref(self)))
            if handle_sigterm and threading.current_thread() is threading.main_thread():
                self._previous_sigterm = signal.getsignal(signal.SIGTERM)
                signal.signal(signal.SIGTERM, self._on_sigterm)

    # -- public API -------------------------------------------------------------------------------

    def track(self, event: dict[str, Any]) -> str | None:
        """Queue one event (sync mode: send it now); returns its idempotency key, or None if dropped.

        Raises EventRejected for a shape the collector would reject."""
        event = dict(event)
        event.setdefault("idempotencyKey", uuid.uuid4().hex)
        occurred = event.get("occurredAt") or _now()
        event["occurredAt"] = occurred.isoformat() if isinstance(occurred, datetime) else occurred
        validate_event(event, extra_sources=self.extra_sources)
        if self.sync_mode:
            self._deliver([event], raise_errors=True)
            return event["idempotencyKey"]
        with self._cond:
            if self._closed or len(self._queue) >= self.max_queue_size:
                self.stats.dropped += 1
                log.warning("analytics queue full (%d): event dropped", self.max_queue_size)
                return None
            self._queue.append((time.monotonic(), event))
            self.stats.queued += 1
            if len(self._queue) in (1, self.flush_at):  # start the interval clock, or send now
                self._cond.notify_all()
        return event["idempotencyKey"]

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything queued now; True once the queue is empty and nothing is in flight."""
        if self.sync_mode:
            return True
        with self._cond:
            self._flush_requested = True
            self._cond.notify_all()
            return self._cond.wait_for(lambda: not self._queue and not self._in_flight, timeout)

    def shutdown(self, timeout: float | None = None) -> bool:
        """Flush (bounded by `timeout`, default `shutdown_timeout`), then stop the sender."""
        if self.sync_mode or self._closed:
            return True
        drained = self.flush(self.shutdown_timeout if timeout is None else timeout)
        with self._cond:
            self._closed = True
            left = len(self._queue) + self._in_flight
            self._cond.notify_all()
        if not drained:
            log.error("analytics client shut down with %d event(s) undelivered", left)
        atexit.unregister(self.shutdown)
        return drained

    @property
    def queue_size(self) -> int:
        with self._cond:
            return len(self._queue)

    # -- background sender ------------------------------------------------------------------------

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="analytics-client", daemon=True)
        self._thread.start()

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        self.shutdown()
        previous = self._previous_sigterm
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

    def _next_batch(self) -> list[dict[str, Any]] | None:
        with self._cond:
            while True:
                if self._queue:
                    due = self._queue[0][0] + self.flush_interval
                    if self._flush_requested or self._closed or len(self._queue) >= self.flush_at:
                        break
                    remaining = due - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                elif self._closed:
                    return None
                else:
                    self._flush_requested = False
                    self._cond.notify_all()
                    self._cond.wait()
            n = min(self.flush_at, len(self._queue))
            batch = [self._queue.popleft()[1] for _ in range(n)]
            self._in_flight = n
            return batch

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            try:
                self._deliver(batch)
            except Exception:  # the sender must outlive any bug in one batch
                log.exception("analytics client: unexpected error delivering %d event(s)", len(batch))
                self.stats.failed += len(batch)
            finally:
                with self._cond:
                    self._in_flight = 0
                    if not self._queue:
                        self._flush_requested = False
                    self._cond.notify_all()

    # -- delivery ---------------------------------------------------------------------------------

    def _deliver(self, events: list[dict[str, Any]], raise_errors: bool = False) -> None:
        for start in range(0, len(events), self.max_batch_size):
            self._send_with_retries(events[start : start + self.max_batch_size], raise_errors)

    def _send_with_retries(self, events: list[dict[str, Any]], raise_errors: bool) -> None:
        attempt = 0
        while True:
            try:
                status, body = self._post(events)
            except _Transient as exc:
                transient: _Transient | None = exc
            else:
                transient = None
            if transient is not None:
                if attempt >= self.max_retries:
                    self._give_up("retries_exhausted", events, str(transient), raise_errors)
                    return
                delay = random.uniform(0, min(self.backoff_max, self.backoff_base * 2**attempt))
                if transient.retry_after is not None:
                    delay = max(delay, min(transient.retry_after, self.backoff_max))
                attempt += 1
                self.stats.retries += 1
                log.info("analytics: %s; retry %d/%d in %.2fs", transient, attempt, self.max_retries, delay)
                time.sleep(delay)
                continue
            if status == 200:
                self._count(events, body.get("results", []), raise_errors)
            elif status == 413 and len(events) > 1:
                half = len(events) // 2
                self._send_with_retries(events[:half], raise_errors)
                self._send_with_retries(events[half:], raise_errors)
            else:
                self._give_up(body.get("code", f"http_{status}"), events, body, raise_errors)
            return

    def _post(self, events: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
        """One request; returns (status, JSON body) for a definitive answer, raises _Transient otherwise."""
        sent_at = _now()  # per attempt: the collector corrects clock skew with it
        data = json.dumps({"events": [{**e, "sentAt": sent_at} for e in events]}, default=str).encode()
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        if self.write_key:
            headers["X-Write-Key"] = self.write_key
        request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
        self.stats.requests += 1
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
            if status == 429 or status >= 500:
                raise _Transient(f"HTTP {status}", _retry_after(exc.headers.get("Retry-After"))) from None
        except (urllib.error.URLError, OSError) as exc:
            raise _Transient(f"network: {exc}") from None
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            if status == 200:  # an answer we cannot read is no proof of delivery
                raise _Transient("unreadable 200 response") from None
            body = {"message": raw[:200].decode("utf-8", "replace")}
        return status, body if isinstance(body, dict) else {}

    def _count(self, events: list[dict[str, Any]], results: list[dict[str, Any]], raise_errors: bool) -> None:
        refused = []
        for event, result in zip(events, results):
            status = result.get("status")
            if status == "accepted":
                self.stats.accepted += 1
            elif status == "duplicate":
                self.stats.duplicate += 1
            else:
                self.stats.rejected += 1
                refused.append((event, result))
        if refused:
            if self.on_error:
                self.on_error("rejected", [e for e, _ in refused], [r for _, r in refused])
            if raise_errors:
                raise DeliveryError("rejected", [r for _, r in refused])

    def _give_up(self, reason: str, events: list[dict[str, Any]], detail: Any, raise_errors: bool) -> None:
        self.stats.failed += len(events)
        log.error("analytics: %d event(s) not delivered: %s %s", len(events), reason, detail)
        if self.on_error:
            self.on_error(reason, events, detail)
        if raise_errors:
            raise DeliveryError(reason, detail)


def _restart_in_child(ref: weakref.ref[Client]) -> None:
    client = ref()
    if client is None or client._closed:
        return
    # The parent still owns (and sends) what was queued before the fork; the child starts empty.
    client._cond = threading.Condition(threading.RLock())
    client._queue = deque()
    client._in_flight = 0
    client._flush_requested = False
    client.stats = ClientStats()
    client._start()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
