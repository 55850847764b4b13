"""A browser's events against the same events from a server client: collector CPU per event, interleaved (#16).

    .venv/bin/python bench/browser_events_bench.py [--rounds 6] [--requests 200] [--code DIR]

The collector's WSGI app (fast path, CORS layer, metrics; no gunicorn, no HTTP) is called in this process with
real Redis (a private prefix on REDIS_URL, deleted after) and reference checks against a scratch database on
DATABASE_URL's server (created, migrated, seeded, dropped). Three requests of 50 events, request after request,
in turn, so the machine's drift falls on all three alike:
  server   the events as a server client sends them: `POST /v1/track/batch`, application/json (anonymous actor,
           idempotency key, occurredAt/sentAt, user agent, UTM, referrer, landing page);
  segment  the same events as analytics.js sends them: `POST /segment/v1/b`, text/plain, writeKey inside, each a
           Segment track call (anonymousId, messageId, timestamp, context.page/campaign/userAgent);
  cors     the same events as our tracker sends them from another origin: `/v1/track/batch`, text/plain, Origin;
  segsdk   the same Segment calls as Segment's server SDKs send them: `POST /segment/v1/batch`, application/json.
CPU time (time.process_time) per event of each, and each one's ratio to server (#16: segment and cors ≤ 1.0);
segsdk ÷ server is what the Segment translation costs any client, browser or not.
The collector bench (bench/collector_bench.py --only server,segment,cors) measures the same pairs through gunicorn
and wrk; there a round's ratio moves by ±10 % with the machine, here by ~±2 %.
--code DIR imports the collector from another checkout (e.g. a `git worktree` of an older commit): an A/B.
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import re
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
N = 50  # events per request, as the collector bench's batches


def _paths(code: Path) -> None:
    sys.path[:0] = [str(code), str(code / "include"), str(code / "clients/python/src")]


def server_event(run: str, n: int, ts: str) -> str:
    return (
        f'{{"eventType":"asset_viewed","source":"server","actorId":"anon-{run}-{n}","actorType":"anonymous",'
        f'"entityId":"ast_{n % 100 + 1:03d}","entityType":"asset","props":{{"assetId":"ast_{n % 100 + 1:03d}",'
        f'"viewDurationMs":{n % 5000}}},"idempotencyKey":"m-{run}-{n}","occurredAt":"{ts}","sentAt":"{ts}",'
        '"userAgent":"Mozilla/5.0 (X11; Linux x86_64) bench","attribution":{"utmSource":"newsletter",'
        '"utmMedium":"email","referrer":"https://news.example/","landingPage":"https://example.com/a"}}'
    )


def segment_call(run: str, n: int, ts: str) -> str:
    return (
        f'{{"type":"track","event":"Asset Viewed","anonymousId":"anon-{run}-{n}","messageId":"m-{run}-{n}",'
        f'"timestamp":"{ts}","properties":{{"assetId":"ast_{n % 100 + 1:03d}","viewDurationMs":{n % 5000}}},'
        '"context":{"page":{"path":"/a","url":"https://example.com/a","referrer":"https://news.example/"},'
        '"campaign":{"source":"newsletter","medium":"email"},"userAgent":"Mozilla/5.0 (X11; Linux x86_64) bench"},'
        '"integrations":{}}'
    )


def request(kind: str, run: str, k: int) -> tuple[bytes, dict[str, str]]:
    """One request's body and WSGI environ entries: 50 events numbered from k * 50, stamped now."""
    ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    numbers = range(k * N, (k + 1) * N)
    if kind in ("segment", "segsdk"):
        calls = ",".join(segment_call(run, n, ts) for n in numbers)
        body = f'{{"writeKey":"wk_bench","batch":[{calls}],"sentAt":"{ts}"}}'
        if kind == "segsdk":
            return body.encode(), {"PATH_INFO": "/segment/v1/batch", "CONTENT_TYPE": "application/json"}
        return body.encode(), {"PATH_INFO": "/segment/v1/b", "CONTENT_TYPE": "text/plain"}
    body = '{"events":[' + ",".join(server_event(run, n, ts) for n in numbers) + "]}"
    if kind == "cors":
        env = {"CONTENT_TYPE": "text/plain;charset=UTF-8", "HTTP_ORIGIN": "https://shop.example"}
        return body.encode(), {"PATH_INFO": "/v1/track/batch", **env}
    return body.encode(), {"PATH_INFO": "/v1/track/batch", "CONTENT_TYPE": "application/json"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--requests", type=int, default=200, help="requests of 50 events per kind and round")
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout whose collector is measured")
    opts = parser.parse_args()
    _paths(opts.code.resolve())
    import redis
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from analytics.config import Settings
    from analytics.db import drop_database, ensure_database
    from analytics.migrate import migrate
    from analytics.seed import seed

    base = Settings.from_env()
    prefix = f"browsercost{uuid.uuid4().hex[:6]}"
    dbname = f"analytics_{prefix}"
    dsn = make_conninfo(**{**conninfo_to_dict(base.database_url), "dbname": dbname})
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "ANALYTICS_KEY_PREFIX": prefix,
        "ANALYTICS_STREAM_KEY": f"{prefix}:events",
        "ANALYTICS_CORS_ORIGINS": "https://shop.example",
    }
    client = redis.Redis.from_url(base.redis_url)
    ensure_database(dsn)
    try:
        migrate(dsn)
        seed(dsn)
        from ingest_api import create_app

        app = create_app(Settings.from_env(env))
        wsgi = app.wsgi_app  # metrics ∘ CORS ∘ fast path ∘ Flask, as gunicorn calls it
        statuses: list[str] = []

        def call(body: bytes, extra: dict[str, str]) -> None:
            environ = {
                "REQUEST_METHOD": "POST",
                "CONTENT_LENGTH": str(len(body)),
                "wsgi.input": io.BytesIO(body),
                "REMOTE_ADDR": "127.0.0.1",
                "HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64) bench",
                "SERVER_NAME": "bench",
                "SERVER_PORT": "80",
                "SERVER_PROTOCOL": "HTTP/1.1",
                "wsgi.url_scheme": "http",
                **extra,
            }
            out = b"".join(wsgi(environ, lambda status, headers, exc_info=None: statuses.append(status)))
            if extra["PATH_INFO"].startswith("/segment"):
                accepted = int(re.search(rb'"accepted": ?(\d+)', out).group(1)) if b'"accepted"' in out else 0
            else:
                accepted = len(re.findall(rb'"status": ?"accepted"', out))
            if not statuses[-1].startswith("200") or accepted != N:  # every event accepted, none deduplicated
                raise SystemExit(f"unexpected answer {statuses[-1]}: {out[:300]!r}")

        kinds = ("server", "segment", "cors", "segsdk")
        per_event: dict[str, list[float]] = {k: [] for k in kinds}
        others = kinds[1:]
        print(
            f"{'round':>5} "
            + "".join(f"{k + ' µs/ev':>15}" for k in kinds)
            + "".join(f"{k + '÷server':>16}" for k in others)
        )
        for rnd in range(opts.rounds):
            run = uuid.uuid4().hex[:8]
            reqs = {k: [request(k, f"{k}{run}", i) for i in range(opts.requests + 1)] for k in kinds}
            for k in kinds:  # warm: the script cached in Redis, the known-id sets filled
                call(*reqs[k][0])
            gc.collect()
            spent = dict.fromkeys(kinds, 0.0)
            for i in range(1, opts.requests + 1):
                turn = i % len(kinds)
                for k in kinds[turn:] + kinds[:turn]:  # each kind first, second, ... in turn
                    start = time.process_time()
                    call(*reqs[k][i])
                    spent[k] += time.process_time() - start
            for k in kinds:
                per_event[k].append(spent[k] / (opts.requests * N) * 1e6)
            last = {k: per_event[k][-1] for k in kinds}
            print(
                f"{rnd:>5} "
                + "".join(f"{last[k]:>15.1f}" for k in kinds)
                + "".join(f"{last[k] / last['server']:>16.3f}" for k in others),
                flush=True,
            )
        summary = [f"median: server {statistics.median(per_event['server']):.1f} µs/event"]
        for k in others:
            ratios = [x / s for s, x in zip(per_event["server"], per_event[k], strict=True)]
            summary.append(f"{k} ÷ server {statistics.median(ratios):.3f} (rounds {min(ratios):.3f}-{max(ratios):.3f})")
        print("; ".join(summary) + f"; code {opts.code}")
    finally:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=5000))
        for start in range(0, len(keys), 5000):
            client.unlink(*keys[start : start + 5000])
        drop_database(dsn)


if __name__ == "__main__":
    main()
