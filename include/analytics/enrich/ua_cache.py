"""The run's distinct user agents: keyed into analytics.user_agents, the strings it lacks parsed (in forked
worker processes when there are many and cores to spare) and copied straight in."""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.pool
import os
import signal
from datetime import datetime

import psycopg

from analytics.collect.copyrow import text_line
from analytics.enrich.useragent import Engine, parse_one, parser_id
from analytics.sql import load_sql

log = logging.getLogger(__name__)

# Below this many new strings (~15 µs each with ua-parser-rs) forking costs more than a second core saves.
POOL_MIN_STRINGS = 4000
# The strings a parse is for; set before the workers fork, so they inherit it instead of receiving a copy.
_pending: list[tuple[str, str]] = []
# A parse the workers have not finished by then is abandoned (workers terminated) and done in-process instead.
# ~30,000 new strings take about a second; this only bounds a worker that hangs.
POOL_TIMEOUT_S = 120.0


def parse_workers(strings: int) -> int:
    """Processes to parse this many strings with: all usable cores unless the box is already saturated."""
    if strings < POOL_MIN_STRINGS:
        return 1
    cores = len(os.sched_getaffinity(0))
    return 1 if os.getloadavg()[0] >= 2 * cores else min(cores, strings // (POOL_MIN_STRINGS // 2))


def _copy_lines(lo: int, hi: int, engine: Engine, tail: tuple[str, str]) -> bytes:
    """COPY text lines for _pending[lo:hi]: ua_md5, ua, the parsed columns, then parser and parsed_at (`tail`)."""
    out = []
    for md5, ua in _pending[lo:hi]:
        p = parse_one(ua, engine)
        out.append(text_line((md5, ua, *p[:7], "t" if p.is_bot else "f", *tail)))
    return b"".join(out)


def _copy_lines_args(args: tuple[int, int, Engine, tuple[str, str]]) -> bytes:
    return _copy_lines(*args)


def parse_to_copy(
    pending: list[tuple[str, str]], engine: Engine, parser: str, now: datetime, workers: int
) -> list[bytes]:
    """(ua_md5, ua) pairs → COPY text for analytics.user_agents, in `workers` processes (forked: they
    inherit the loaded resolver and the strings; only the finished text comes back)."""
    global _pending
    _pending = pending
    tail = (parser, now.isoformat())
    try:
        if workers <= 1:
            return [_copy_lines(0, len(pending), engine, tail)]
        step = -(-len(pending) // (workers * 2))
        chunks = [(lo, min(lo + step, len(pending)), engine, tail) for lo in range(0, len(pending), step)]
        pool = new_pool(workers)
        try:
            blocks = pool.map_async(_copy_lines_args, chunks, chunksize=1).get(POOL_TIMEOUT_S)
        except multiprocessing.TimeoutError:
            log.warning("user-agent parse workers gave no answer in %.0f s: parsing in-process", POOL_TIMEOUT_S)
            pool.terminate()
            return [_copy_lines(0, len(pending), engine, tail)]
        except BaseException:
            pool.terminate()
            raise
        pool.close()  # workers leave when the queue is closed: no signal needed on the normal path
        pool.join()
        return blocks
    finally:
        _pending = []


def new_pool(workers: int) -> multiprocessing.pool.Pool:
    """Forked workers (they inherit the loaded resolver and `_pending`) with default signal handling."""
    return multiprocessing.get_context("fork").Pool(workers, initializer=_default_signals)


def _default_signals() -> None:
    """In each forked worker: SIGTERM/SIGINT back to their defaults. A worker inherits the parent's handlers, and
    Airflow's task runner installs a SIGTERM handler that does not exit: with it, `Pool.terminate()` waited forever
    on workers that caught the signal and carried on."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def stage_user_agents(
    conn: psycopg.Connection, start: datetime, end: datetime, engine: Engine, now: datetime, workers: int | None
) -> tuple[int, int, int]:
    """Fill the run's enrich_ua with the interval's distinct user agents and their cache keys; parse and copy
    into analytics.user_agents the strings it has no row for from this parser (once ever, not once a run);
    (distinct, parsed now, processes used)."""
    parser = parser_id()
    span = {"start": start, "end": end, "parser": parser}
    distinct = conn.execute(load_sql("enrich/insert_interval_user_agents"), span).rowcount
    with conn.cursor().copy(load_sql("enrich/copy_missing_user_agents")) as copy:
        pending = [(md5, ua) for md5, ua in copy.rows()]
    if not pending:
        return distinct, 0, 0
    conn.execute(load_sql("enrich/delete_stale_user_agents"))
    # A daemonic process (e.g. a Celery prefork child) may not start children: it parses in-process.
    used = 1 if multiprocessing.current_process().daemon else workers or parse_workers(len(pending))
    with conn.cursor().copy(load_sql("enrich/copy_parsed_user_agents")) as copy:
        for block in parse_to_copy(pending, engine, parser, now, used):
            copy.write(block)
    return distinct, len(pending), used
