"""Group commit (analytics.collect.group_commit.GroupCommit): appends that arrive while a script call is in flight go together in
the next call, and each caller still gets exactly its own answer.

A private redis-server is held busy with DEBUG SLEEP so that calls are provably in flight together."""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
import redis

from analytics.collect.keys import Keys
from analytics.collect.stream import Item, Misses, StreamWriter
from tests.helpers.redis_server import RedisServer, wait_until


@pytest.fixture
def server(private_redis):
    return private_redis


@pytest.fixture
def writer(server):
    client = redis.Redis.from_url(server.url, socket_timeout=10)
    prefix = f"gc:{uuid.uuid4().hex[:8]}"
    keys = Keys(prefix, f"{prefix}:events")
    client.sadd(keys.refs("user"), "usr_known")
    w = StreamWriter(client, keys)
    yield w
    client.close()


def _item(n: int, *, fp: str | None = None, actor: str | None = None) -> Item:
    return Item(
        id=f"id-{n}",
        fingerprint=fp or f"fp-{n}",
        source="web",
        idempotency_key=None,
        record=f"line {n}\n",
        event_type="asset_viewed",
        actor_ref=actor,
    )


def _start(fn, *args) -> tuple[threading.Thread, list]:
    out: list = []

    def run():
        try:
            out.append(fn(*args))
        except Exception as exc:  # noqa: BLE001 (the test asserts on it)
            out.append(exc)

    t = threading.Thread(target=run)
    t.start()
    return t, out


def _run_grouped(server: RedisServer, writer, calls: list[list[Item]]) -> list:
    """The first call is held in flight in Redis; the others arrive meanwhile, wait, and must share one call."""
    with server.writes_paused():
        first, first_out = _start(writer.append, calls[0])
        wait_until(lambda: server.held() == 1, "the first call to reach Redis")
        rest = [_start(writer.append, items) for items in calls[1:]]
        wait_until(lambda: writer._group.waiting == len(rest), "the other calls to wait behind it")
    for t, _ in [(first, first_out), *rest]:
        t.join(10)
    return [first_out[0], *(out[0] for _, out in rest)]


def test_calls_arriving_during_a_call_share_the_next_one(server, writer):
    calls = [[_item(0)], [_item(1)], [_item(2), _item(3)], [_item(4)], [_item(5)]]
    before = writer.script_calls
    results = _run_grouped(server, writer, calls)

    assert writer.script_calls - before == 2  # the first call, then one for the four that waited
    for items, outcomes in zip(calls, results, strict=True):
        assert [(o.status, o.id) for o in outcomes] == [("accepted", it.id) for it in items]
    entries = writer.client.xrange(writer.keys.stream)
    assert sorted(e[b"id"].decode() for _, e in entries) == [f"id-{n}" for n in range(6)]
    # Each caller got the stream id of its own entry.
    by_id = {e[b"id"].decode(): sid.decode() for sid, e in entries}
    for items, outcomes in zip(calls, results, strict=True):
        assert [o.detail for o in outcomes] == [by_id[it.id] for it in items]


def test_duplicates_within_one_group_point_at_the_first(server, writer):
    calls = [[_item(0)], [_item(1, fp="same")], [_item(2, fp="same")]]
    results = _run_grouped(server, writer, calls)

    assert [(o.status, o.id, o.detail) for o in results[2]] == [("duplicate", "id-1", "fingerprint")]
    assert results[1][0].status == "accepted"
    assert writer.client.xlen(writer.keys.stream) == 2


def test_a_reference_miss_fails_only_its_own_call(server, writer):
    calls = [[_item(0)], [_item(1, actor="usr_known")], [_item(2, actor="usr_missing"), _item(3)], [_item(4)]]
    before = writer.script_calls
    results = _run_grouped(server, writer, calls)

    assert isinstance(results[2], Misses)
    assert results[2].items == {0: ("actor",)}  # indexes are the call's own, not the group's
    assert [o.status for o in results[1]] == ["accepted"]
    assert [o.status for o in results[3]] == ["accepted"]
    assert writer.script_calls - before == 3  # the group found the miss, wrote nothing, and ran again without it
    ids = sorted(e[b"id"].decode() for _, e in writer.client.xrange(writer.keys.stream))
    assert ids == ["id-0", "id-1", "id-4"]  # nothing of the call that missed


def test_a_failed_call_raises_in_every_caller_it_carried_and_the_next_call_works(server, writer):
    client = redis.Redis.from_url(server.url, socket_timeout=0.3)
    impatient = StreamWriter(client, writer.keys)
    with server.writes_paused():
        first, first_out = _start(impatient.append, [_item(0)])
        wait_until(lambda: server.held() == 1, "the first call to reach Redis")
        waiting = [_start(impatient.append, [_item(n)]) for n in (1, 2)]
        for t, _ in [(first, first_out), *waiting]:
            t.join(10)
    assert isinstance(first_out[0], redis.TimeoutError)
    # Those that waited went on in a call of their own, which timed out too: each of them raised, none hangs or
    # half-answers.
    assert [type(out[0]) for _, out in waiting] == [redis.TimeoutError, redis.TimeoutError]
    assert impatient.script_calls == 0

    (after,) = impatient.append([_item(9)])  # a new connection: the timed-out one may still hold a late reply
    assert after.status == "accepted"
    client.close()


# Run under gevent in a process of its own (monkey-patching would change this one): a greenlet killed while its
# append waits must leave neither a group nor the connection stuck.
_KILLED = r"""
from gevent import monkey

monkey.patch_all()
import sys

import gevent
import redis

from analytics.collect.keys import Keys
from analytics.collect.stream import Item, StreamWriter

url, prefix, scenario = sys.argv[1:]
client = redis.Redis.from_url(url, socket_timeout=10)
writer = StreamWriter(client, Keys(prefix, prefix + ":events"))
writer._script._connection().send_command("SCRIPT", "LOAD", writer._script.source)  # before Redis is held
writer._script._connection().read_response()
print("ready", flush=True)
sys.stdin.readline()  # the parent now holds Redis with DEBUG SLEEP


def item(n):
    return Item(id=f"id-{n}", fingerprint=f"fp-{n}", source="web", idempotency_key=None, record=f"line {n}")


if scenario == "follower":
    first = gevent.spawn(writer.append, [item(1)])
    gevent.sleep(0.1)  # first is in flight, waiting for the reply
    second = gevent.spawn(writer.append, [item(2), item(3)])
    gevent.sleep(0.1)  # second waits behind it
    second.kill()
    with gevent.Timeout(10):
        print("first", [(o.status, o.id) for o in first.get()], flush=True)
else:
    first = gevent.spawn(writer.append, [item(1)])
    second = gevent.spawn(writer.append, [item(2), item(3)])  # joins first's script call
    gevent.sleep(0.1)  # that call is in flight, waiting for the reply
    first.kill()
    try:
        with gevent.Timeout(10):
            print("second", second.get(), flush=True)
    except redis.ConnectionError as exc:
        print("second", type(exc).__name__, flush=True)
with gevent.Timeout(10):  # and the worker's next append goes through
    print("third", [(o.status, o.id) for o in writer.append([item(4)])], flush=True)
"""


@pytest.mark.parametrize("scenario", ["follower", "leader"])
def test_a_killed_greenlet_leaves_no_group_or_connection_stuck(server, scenario):
    """follower: killed while it waits behind a call in flight, it leaves the queue; before, the next group was
    handed to the dead greenlet and every later append of the worker waited forever.
    leader: killed while its call (carrying another caller's events) waits for the reply, the other caller gets a
    ConnectionError (answered 503, retried, deduplicated) rather than the leader's GreenletExit, and the next
    append does not read the dead call's late reply."""
    root = Path(__file__).resolve().parents[2]
    prefix = f"gck:{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED, server.url, prefix, scenario],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": f"{root}:{root / 'include'}", "PATH": "/usr/bin:/bin"},
    )
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        sleeper = server.hold(1.0)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    sleeper.join(10)
    assert proc.returncode == 0, err
    client = redis.Redis.from_url(server.url)
    ids = sorted(e[b"id"].decode() for _, e in client.xrange(f"{prefix}:events"))
    assert "third [('accepted', 'id-4')]" in out, out
    if scenario == "follower":
        assert "first [('accepted', 'id-1')]" in out
        assert ids == ["id-1", "id-4"]  # the killed caller's events were never written
    else:
        assert "second ConnectionError" in out, out
        # The killed leader's call had reached Redis: it ran, unanswered; a client retry is answered "duplicate".
        assert ids == ["id-1", "id-2", "id-3", "id-4"]
    client.close()
