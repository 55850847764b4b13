"""Group commit: at most one script call of a process in flight; appends that arrive meanwhile share the next."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis

if TYPE_CHECKING:
    from analytics.collect.stream import Item, Misses, Outcome, Rejection


@dataclass(slots=True, eq=False)
class Call:
    """One append() waiting for its script call: its input, then its result or error."""

    items: list[Item]
    rejections: Sequence[Rejection]
    rejected_at: str
    bucket: int
    result: list[Outcome] | Misses | None = None
    error: BaseException | None = None
    done: threading.Event | None = None  # made only when the call has to wait for another's script call
    batch: list[Call] | None = None  # set when this waiting call is handed the next group to run


# At most this many events in one script call: Redis runs nothing else while a script runs.
MAX_GROUP_EVENTS = 500


def _gevent_patched() -> bool:
    """True in a gevent worker (gunicorn's gevent worker patches the standard library before loading the app)."""
    if "gevent" not in sys.modules:
        return False
    from gevent import monkey

    return bool(monkey.is_module_patched("socket"))


class GroupCommit:
    """Group commit: at most one script call of this process is in flight; calls that arrive meanwhile wait and
    go together in the next one, run by the first of them.

    A lone call runs at once, as before. Under load a single event shares one round trip with its neighbours: in a
    gevent worker (the default) 3-4 single events per call, and Redis CPU per event fell from ~43 to 30-37 µs;
    with gunicorn threads calls carried ~1.3 events and throughput did not change (BENCHMARKS.md, "Collector").
    Every event still gets its own dedupe and XADD inside the one atomic script, and no caller returns before the
    call carrying its events answered."""

    def __init__(self, execute):
        self._execute = execute
        self._lock = threading.Lock()
        self._busy = False
        self._queue: list[Call] = []
        self._cooperative = _gevent_patched()

    @property
    def waiting(self) -> int:
        """How many calls wait for the one in flight (for tests and diagnostics)."""
        return len(self._queue)

    def run(self, call: Call) -> list[Outcome] | Misses:
        with self._lock:
            if self._busy:
                call.done = threading.Event()
                self._queue.append(call)
            else:
                self._busy = True
        if call.done is not None:
            try:
                call.done.wait()
            except BaseException:  # killed while waiting (a gevent worker's kill at shutdown)
                self._abandon(call)
                raise
            if call.batch is not None:
                self._lead(call.batch)
        elif self._cooperative:
            # Under gevent, first let the other runnable requests of this worker reach append() and join this call
            # (one switch round; nothing waits on a timer). OS threads are not asked to: that would cost a GIL handoff.
            try:
                time.sleep(0)  # gevent's, once patched
            finally:  # even if this greenlet is killed here, the calls that queued behind it are run
                with self._lock:
                    batch = [call, *self._take(call.bucket, len(call.items))]
                self._lead(batch)
        else:
            self._lead([call])
        if call.error is not None:
            raise call.error
        assert call.result is not None
        return call.result

    def _abandon(self, call: Call) -> None:
        """A waiting caller is going away. Still queued: it leaves the queue (its events were never written, and no
        one will hand it the lead). Already handed the lead: it runs that group, or the group's other callers and
        every later call of this process would wait forever. Taken as a follower: its group's leader carries it."""
        with self._lock:
            queued = any(c is call for c in self._queue)
            if queued:
                self._queue = [c for c in self._queue if c is not call]
        if not queued and call.batch is not None:
            self._lead(call.batch)

    def _take(self, bucket: int | None = None, events: int = 0) -> list[Call]:
        """Queued calls for the next script call (under the lock): one stats bucket, at most MAX_GROUP_EVENTS events
        (a bigger call goes alone)."""
        taken: list[Call] = []
        rest: list[Call] = []
        for c in self._queue:
            if bucket is None:
                bucket = c.bucket
            if c.bucket == bucket and (not (taken or events) or events + len(c.items) <= MAX_GROUP_EVENTS):
                taken.append(c)
                events += len(c.items)
            else:
                rest.append(c)
        self._queue = rest
        return taken

    def _lead(self, batch: list[Call]) -> None:
        try:
            self._execute(batch)
        except BaseException as exc:  # each waiting caller raises it, as a lone call would
            # ...except what only concerns the leader's own greenlet (killed, interrupted): its followers answer
            # "unavailable", as for a lost connection. The script may or may not have run; a retry is deduplicated.
            shared = exc
            if not isinstance(exc, Exception):
                shared = redis.ConnectionError(f"the script call carrying this append was interrupted ({exc!r})")
            for c in batch:
                if c.result is None:
                    c.error = exc if c is batch[0] else shared
        finally:
            with self._lock:
                leader = None
                taken = self._take()
                if taken:
                    leader = taken[0]
                    leader.batch = taken
                else:
                    self._busy = False
            if leader is not None:
                assert leader.done is not None
                leader.done.set()
            for c in batch:
                if c.done is not None and c.batch is None:  # the followers: not the caller leading this batch
                    c.done.set()
