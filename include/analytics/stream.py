"""Redis side of ingestion: the atomic dedupe-and-append script, rejection keeping, the stream keys."""

from __future__ import annotations

import hashlib
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import hiredis
import redis

# One call per group of requests (see _GroupCommit). First the reference check: if any event names an actor or
# entity missing from the known-id sets, nothing is written and the misses are returned
# ({"miss", index, "actor"|"entity"|"actor,entity", ...}) so the caller can confirm them against Postgres and call
# again. Otherwise: keep the requests' rejections, then dedupe and append their valid events, and return one string
# per event: its stream entry id, or "=<reason>:<original id>" for a duplicate (one flat string each is cheaper
# to send and to read than a nested reply).
# KEYS: stream, stats hash (this minute), rejected stream, known users, assets, licenses, projects, payouts,
#   then per event: fingerprint key, idempotency key ("" = none).
# ARGV: fp ttl, idem ttl, stats ttl, rejected count R, rejected maxlen (0 = unbounded),
#   then per rejection (8): stats suffix "reason|source|event_type", payload, reason, errors, source, event_type, stage,
#   rejected_at,
#   then per event (6): id, COPY line (analytics.copyrow), stats suffix "source|event_type", actor id to check ("" = none),
#   entity set index (0 = none, 1..5 = KEYS[3 + n]), entity id.
# Checks and XADD run in one script so a fingerprint can never exist without its event: the fingerprint is claimed
# (SET NX GET: one command for the check and the claim) just before the XADD, and dropped again if the XADD fails.
_ACCEPT_LUA = """
local stream, stats, rejected = KEYS[1], KEYS[2], KEYS[3]
local fp_ttl, idem_ttl, stats_ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local n_rej, rej_maxlen = tonumber(ARGV[4]), tonumber(ARGV[5])
local first_event = 5 + 8 * n_rej
local n = (#KEYS - 8) / 2
local misses = {"miss"}
-- Each id is looked up once per call: a batch often names the same actor and entity many times.
local known = {{}, {}, {}, {}, {}}
local function is_known(kind, id)
  local seen = known[kind][id]
  if seen == nil then
    seen = redis.call("SISMEMBER", KEYS[3 + kind], id) == 1
    known[kind][id] = seen
  end
  return seen
end
for i = 1, n do
  local a = first_event + 6 * (i - 1)
  local actor, kind, entity = ARGV[a + 4], tonumber(ARGV[a + 5]), ARGV[a + 6]
  local which = {}
  if actor ~= "" and not is_known(1, actor) then which[#which + 1] = "actor" end
  if kind > 0 and not is_known(kind, entity) then which[#which + 1] = "entity" end
  if #which > 0 then
    misses[#misses + 1] = i
    misses[#misses + 1] = table.concat(which, ",")
  end
end
if #misses > 1 then return misses end
local a = 5
for _ = 1, n_rej do
  local fields = {"payload", ARGV[a + 2], "reason", ARGV[a + 3], "errors", ARGV[a + 4], "source", ARGV[a + 5],
    "event_type", ARGV[a + 6], "stage", ARGV[a + 7], "rejected_at", ARGV[a + 8]}
  if rej_maxlen > 0 then
    redis.call("XADD", rejected, "MAXLEN", "~", rej_maxlen, "*", unpack(fields))
  else
    redis.call("XADD", rejected, "*", unpack(fields))
  end
  redis.call("HINCRBY", stats, "rejected|" .. ARGV[a + 1], 1)
  a = a + 8
end
local out = {}
local counts = {}
for i = 1, n do
  local fp_key, idem_key = KEYS[7 + 2 * i], KEYS[8 + 2 * i]
  local id, payload, suffix = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  a = a + 6
  local prior = false
  local field
  if idem_key ~= "" then
    prior = redis.call("GET", idem_key)
    if prior then
      out[i] = "=idempotency_key:" .. prior
      field = "duplicate|idempotency_key|" .. suffix
    end
  end
  if not prior then
    -- Claims the fingerprint and reads an earlier holder in one command.
    prior = redis.call("SET", fp_key, id, "NX", "GET", "EX", fp_ttl)
    if prior then
      out[i] = "=fingerprint:" .. prior
      field = "duplicate|fingerprint|" .. suffix
    end
  end
  if not prior then
    -- Fields: the event id, its COPY line (analytics.copyrow), and "k" only when it has an idempotency key.
    local sid
    if idem_key ~= "" then
      sid = redis.pcall("XADD", stream, "*", "id", id, "r", payload, "k", "1")
    else
      sid = redis.pcall("XADD", stream, "*", "id", id, "r", payload)
    end
    if type(sid) == "table" then
      redis.call("DEL", fp_key)  -- the event is not in the stream: no fingerprint may say it is
      return sid
    end
    if idem_key ~= "" then redis.call("SET", idem_key, id, "EX", idem_ttl) end
    out[i] = sid
    field = "accepted||" .. suffix
  end
  counts[field] = (counts[field] or 0) + 1
end
for field, c in pairs(counts) do redis.call("HINCRBY", stats, field, c) end
redis.call("EXPIRE", stats, stats_ttl, "NX")  -- NX: set once per bucket, not re-propagated to the AOF on every call
return out
"""

# Which known-id set each entity type is checked against (index into the script's KEYS after the first three).
REF_KINDS = ("user", "asset", "license", "project", "payout")
_REF_KIND_INDEX = {kind: n for n, kind in enumerate(REF_KINDS, start=1)}

STATS_BUCKET_SECONDS = 60
STATS_TTL_SECONDS = 26 * 3600
STAT_SEP = "|"


@dataclass(slots=True)  # one per event: not frozen, which costs ~3x to build
class Outcome:
    status: str  # "accepted" | "duplicate"
    id: str  # the accepted event's id, or the original's for a duplicate
    detail: str  # stream entry id when accepted, the duplicate reason otherwise


@dataclass(frozen=True)
class Rejection:
    """A rejected item as kept in `Keys.rejected_stream` (payload already bounded)."""

    payload: str
    reason: str
    errors: str  # JSON text: [{field, rule, message}]
    source: str
    event_type: str
    stage: str
    stat_source: str  # the low-cardinality values the counters use
    stat_event_type: str


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


@dataclass(slots=True)  # one per event: not frozen, which costs ~3x to build
class Item:
    """A validated event ready to append; actor_ref / entity_ref name ids to check against the known-id sets."""

    id: str
    fingerprint: str
    source: str
    idempotency_key: str | None
    record: bytes | str  # the event's COPY line (analytics.copyrow.encode_line)
    event_type: str = ""
    actor_ref: str | None = None
    entity_kind: str | None = None
    entity_ref: str | None = None


@dataclass(frozen=True)
class Misses:
    """The script wrote nothing: these items (index → "actor" / "entity" / "actor,entity") named unknown ids."""

    items: dict[int, tuple[str, ...]]


class StreamWriter:
    """Appends validated events to the stream, deduplicating atomically, one round trip per call."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        *,
        fp_ttl: int = 60,
        idem_ttl: int = 3600,
        rejected_maxlen: int = 0,
    ):
        self.client = client
        self.keys = keys
        self.fp_ttl = fp_ttl
        self.idem_ttl = idem_ttl
        self.rejected_maxlen = rejected_maxlen
        self._script = _Script(client, _ACCEPT_LUA)
        self._group = _GroupCommit(self._execute)
        self.script_calls = 0  # how many script calls carried this writer's appends (grouped ones count once)
        self._fixed_keys = [keys.refs(k) for k in REF_KINDS]

    def append(
        self,
        items: Sequence[Item | tuple],
        rejections: Sequence[Rejection] = (),
        *,
        rejected_at: str = "",
        now: float | None = None,
    ) -> list[Outcome] | Misses:
        """Keep `rejections`, then dedupe and append `items` (Item, or a tuple
        (id, fingerprint, source, idempotency key, record[, event type]) for no reference check).

        Returns one Outcome per item, or Misses when a reference check failed (then nothing was written).
        Concurrent calls (other threads or greenlets of this process) share one script call: see _GroupCommit."""
        if not items and not rejections:
            return []
        call = _Call(
            [i if isinstance(i, Item) else Item(*i) for i in items], rejections, rejected_at, stats_bucket(now)
        )
        return self._group.run(call)

    def _execute(self, calls: list[_Call]) -> None:
        """One script call for `calls` (same stats bucket); sets each call's result. Calls whose items all passed
        the reference check are run again when another call's items missed (the script wrote nothing)."""
        while calls:
            keys: list[str] = [self.keys.stream, self.keys.stats(calls[0].bucket), self.keys.rejected_stream]
            keys += self._fixed_keys
            args: list[Any] = [
                self.fp_ttl,
                self.idem_ttl,
                STATS_TTL_SECONDS,
                sum(len(c.rejections) for c in calls),
                self.rejected_maxlen,
            ]
            for c in calls:
                for r in c.rejections:
                    args += (
                        STAT_SEP.join((r.reason, r.stat_source, r.stat_event_type)),
                        r.payload,
                        r.reason,
                        r.errors,
                        r.source,
                        r.event_type,
                        r.stage,
                        c.rejected_at,
                    )
            fp_key, idem_key = self.keys.fingerprint, self.keys.idempotency
            for c in calls:
                for item in c.items:
                    keys += (
                        fp_key(item.fingerprint),
                        idem_key(item.source, item.idempotency_key) if item.idempotency_key else "",
                    )
                    kind = _REF_KIND_INDEX[item.entity_kind] if item.entity_ref and item.entity_kind else 0
                    args += (
                        item.id,
                        item.record,
                        f"{item.source}{STAT_SEP}{item.event_type}",
                        item.actor_ref or "",
                        kind,
                        item.entity_ref if kind else "",
                    )
            raw = self._script(keys, args)
            self.script_calls += 1
            if not raw or _s(raw[0]) != "miss":
                at = 0
                for c in calls:
                    answers = raw[at : at + len(c.items)]
                    c.result = [_outcome(item, value) for item, value in zip(c.items, answers, strict=True)]
                    at += len(c.items)
                return
            pairs = raw[1:]
            missed = {int(pairs[j]) - 1: tuple(_s(pairs[j + 1]).split(",")) for j in range(0, len(pairs), 2)}
            again: list[_Call] = []
            at = 0
            for c in calls:
                mine = {i - at: which for i, which in missed.items() if at <= i < at + len(c.items)}
                if mine:
                    c.result = Misses(mine)
                else:
                    again.append(c)
                at += len(c.items)
            calls = again


@dataclass(slots=True, eq=False)
class _Call:
    """One append() waiting for its script call: its input, then its result or error."""

    items: list[Item]
    rejections: Sequence[Rejection]
    rejected_at: str
    bucket: int
    result: list[Outcome] | Misses | None = None
    error: BaseException | None = None
    done: threading.Event | None = None  # made only when the call has to wait for another's script call
    batch: list[_Call] | None = None  # set when this waiting call is handed the next group to run


# At most this many events in one script call: Redis runs nothing else while a script runs.
MAX_GROUP_EVENTS = 500


def _gevent_patched() -> bool:
    """True in a gevent worker (gunicorn's gevent worker patches the standard library before loading the app)."""
    if "gevent" not in sys.modules:
        return False
    from gevent import monkey

    return bool(monkey.is_module_patched("socket"))


class _GroupCommit:
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
        self._queue: list[_Call] = []
        self._cooperative = _gevent_patched()

    def run(self, call: _Call) -> list[Outcome] | Misses:
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

    def _abandon(self, call: _Call) -> None:
        """A waiting caller is going away. Still queued: it leaves the queue (its events were never written, and no
        one will hand it the lead). Already handed the lead: it runs that group, or the group's other callers and
        every later call of this process would wait forever. Taken as a follower: its group's leader carries it."""
        with self._lock:
            queued = any(c is call for c in self._queue)
            if queued:
                self._queue = [c for c in self._queue if c is not call]
        if not queued and call.batch is not None:
            self._lead(call.batch)

    def _take(self, bucket: int | None = None, events: int = 0) -> list[_Call]:
        """Queued calls for the next script call (under the lock): one stats bucket, at most MAX_GROUP_EVENTS events
        (a bigger call goes alone)."""
        taken: list[_Call] = []
        rest: list[_Call] = []
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

    def _lead(self, batch: list[_Call]) -> None:
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


class _Script:
    """EVALSHA on one connection of its own (only the group commit's current leader uses it).

    redis-py 8 spends ~100 µs of CPU per command on pool checkout and telemetry hooks, more than the
    script takes to run; the hot path skips that. Errors are the same redis exceptions as usual.
    """

    def __init__(self, client: redis.Redis, source: str):
        self.client = client
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()  # noqa: S324 (Redis names scripts by SHA-1)
        self._conn = None
        self._pool = None

    def _connection(self):
        pool = self.client.connection_pool
        if self._conn is None or self._pool is not pool:
            self._conn, self._pool = pool.get_connection(), pool
        return self._conn

    def _run(self, conn, keys: list[str], args: list[Any]) -> Any:
        # Packed by hiredis in one C call: redis-py's packer encodes each argument in Python first.
        try:
            conn.send_packed_command([hiredis.pack_command(("EVALSHA", self.sha, len(keys), *keys, *args))])
            return conn.read_response()
        except redis.exceptions.NoScriptError:
            conn.send_packed_command([hiredis.pack_command(("EVAL", self.source, len(keys), *keys, *args))])
            return conn.read_response()

    def __call__(self, keys: list[str], args: list[Any]) -> Any:
        conn = self._connection()
        try:
            return self._in_step(conn, keys, args)
        except redis.ConnectionError:
            # A socket left dead by a Redis restart: reconnect once. Should the lost reply hide a script that
            # did run, the retry answers "duplicate" with the same event id — the dedupe makes it safe.
            return self._in_step(conn, keys, args)

    def _in_step(self, conn, keys: list[str], args: list[Any]) -> Any:
        try:
            return self._run(conn, keys, args)
        except redis.ResponseError:
            raise  # a whole error reply was read: the connection is still in step
        except BaseException:
            # Timed out, lost, or interrupted (a gevent kill) between the send and the reply: a late reply must not
            # be read as the answer to the next call.
            conn.disconnect()
            raise


def _outcome(item: Item, value: bytes) -> Outcome:
    """One event's answer from the script: its stream entry id, or "=<reason>:<original id>" for a duplicate."""
    text = value.decode()
    if text[0] == "=":
        reason, _, original = text[1:].partition(":")
        return Outcome("duplicate", original, reason)
    return Outcome("accepted", item.id, text)


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
