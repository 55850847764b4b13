"""A private copy of the pipeline on loopback: PostgreSQL (initdb), Redis (AOF), the collector (gunicorn), the loader.

Every server runs on a free port of its own and is removed by `close()`; nothing touches the shared servers."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psycopg
import redis

from analytics.db import ensure_database
from analytics.migrate import migrate
from analytics.seed import seed
from tests.helpers.postgres_server import PostgresServer
from tests.helpers.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[2]
STREAM, GROUP = "analytics:events", "analytics-loader"
# The loader in a process of its own, so it can be killed: run_load with the settings from the environment.
LOADER = (
    "from analytics.config import Settings; from analytics.load.job import run_load; "
    "from analytics.load.tasks import loader_config; import redis, sys; s = Settings.from_env(); "
    "st = run_load(s.database_url, redis.Redis.from_url(s.redis_url), loader_config(s)); "
    "sys.stdout.write(f'{st.inserted} {st.lag_left} {st.pending_left}')"
)


class Stack:
    def __init__(self, load_batch_size: int = 1000) -> None:
        self.run_dir = Path(tempfile.mkdtemp(prefix="faults-run-"))
        self.collector: subprocess.Popen | None = None
        self.loader: subprocess.Popen | None = None
        self.pg = PostgresServer()
        self.redis = RedisServer()
        try:
            self.pg.start()
            ensure_database(self.pg.url)
            migrate(self.pg.url)
            seed(self.pg.url)
            self.redis.start()
        except BaseException:
            self.close()
            raise
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DATABASE_URL": self.pg.url,
            "REDIS_URL": self.redis.url,
            "ANALYTICS_STREAM_KEY": STREAM,
            "ANALYTICS_KEY_PREFIX": "analytics",
            "ANALYTICS_CONSUMER_GROUP": GROUP,
            "ANALYTICS_WRITE_KEYS": "",
            "ANALYTICS_REDIS_TIMEOUT_SECONDS": "1",
            "ANALYTICS_LOAD_BATCH_SIZE": str(load_batch_size),
            "ANALYTICS_LOAD_TIME_BUDGET_SECONDS": "120",
            "ANALYTICS_LOAD_FOLLOW_SECONDS": "0",
            "ANALYTICS_RECLAIM_IDLE_MS": "1000",
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "GUNICORN_WORKERS": "2",
            "GUNICORN_GRACEFUL_TIMEOUT": "10",
        }
        for name in ("PROMETHEUS_MULTIPROC_DIR", "AIRFLOW_CONN_ANALYTICS_POSTGRES", "AIRFLOW_CONN_ANALYTICS_REDIS"):
            self.env.pop(name, None)
        try:
            self.start_collector()
        except BaseException:
            self.close()
            raise

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis.url, socket_timeout=5)

    def db(self) -> psycopg.Connection:
        return psycopg.connect(self.pg.url, autocommit=True)

    # --- the collector ----------------------------------------------------------------------------------------

    def start_collector(self) -> None:
        cmd = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py")]
        cmd += ["--pid", str(self.run_dir / "collector.pid"), "ingest_api.wsgi:app"]
        log = open(self.run_dir / "collector.log", "ab")  # noqa: SIM115 - the child holds it
        self.collector = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{self.base}/healthz", timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.collector.poll() is not None:
                    raise RuntimeError(f"collector did not start (see {self.run_dir}/collector.log)") from None
                time.sleep(0.2)

    def stop_collector(self, sig: int = signal.SIGTERM) -> int | None:
        if self.collector is None:
            return None
        if self.collector.poll() is None:
            self.collector.send_signal(sig)
        code = self.collector.wait(timeout=30)
        self.collector = None
        return code

    # --- the loader -------------------------------------------------------------------------------------------

    def start_loader(self) -> subprocess.Popen:
        self.loader = subprocess.Popen(
            [sys.executable, "-c", LOADER], cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        return self.loader

    def kill_loader(self) -> None:
        if self.loader is not None and self.loader.poll() is None:
            self.loader.kill()
            self.loader.wait(timeout=30)
        self.loader = None

    def drain(self, timeout_s: float = 300) -> int:
        """Loader runs until the stream is drained (nothing undelivered, nothing pending); returns the runs."""
        deadline = time.monotonic() + timeout_s
        for runs in range(1, 100):
            out, err = self.start_loader().communicate(timeout=max(1.0, deadline - time.monotonic()))
            self.loader = None
            fields = out.decode().split()
            if len(fields) == 3 and fields[1:] == ["0", "0"]:
                return runs
            if time.monotonic() > deadline:
                raise RuntimeError(f"the stream did not drain: {out.decode()} {err.decode()[-2000:]}")
            time.sleep(1.1)  # entries a killed run left pending are reclaimed once idle (ANALYTICS_RECLAIM_IDLE_MS)
        raise RuntimeError("the stream did not drain")

    def loaded(self) -> int:
        with self.db() as conn:
            return conn.execute("SELECT count(*) FROM analytics.events").fetchone()[0]

    def close(self) -> None:
        self.kill_loader()
        try:
            self.stop_collector()
        finally:
            self.redis.cleanup()
            self.pg.cleanup()
            shutil.rmtree(self.run_dir, ignore_errors=True)
