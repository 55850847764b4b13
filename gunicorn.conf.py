"""gunicorn settings for the collector: `gunicorn -c gunicorn.conf.py ingest_api.wsgi:app`.

Workers, threads, bind and the graceful timeout come from analytics.config.Settings (GUNICORN_*).
On SIGTERM the arbiter stops accepting, lets each worker finish its in-flight requests (up to
graceful_timeout) and exits 0.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import tempfile

import gunicorn.util

from analytics.config import Settings

_settings = Settings.from_env()

bind = _settings.gunicorn_bind
workers = _settings.gunicorn_workers
# gevent (the default): each worker serves its connections on greenlets, so while one request waits for Redis the
# worker goes on with the others, and their Redis calls are grouped into one (analytics.collect.group_commit.GroupCommit).
# Measured on a 2-core box: ~1.3x the single-event throughput of gthread (BENCHMARKS.md, "Collector").
worker_class = _settings.gunicorn_worker_class
worker_connections = _settings.gunicorn_connections
# Threads only for gthread: gunicorn silently turns "sync" with threads > 1 into gthread.
threads = _settings.gunicorn_threads if worker_class == "gthread" else 1
graceful_timeout = _settings.gunicorn_graceful_timeout
timeout = max(30, graceful_timeout + 5)
keepalive = 5
backlog = 2048
# Each worker listens on its own SO_REUSEPORT socket, so the kernel spreads connections over the workers. On one
# shared socket a keep-alive client stays with whichever worker accepted first: under a few busy connections one
# worker (one core, one GIL) took them all while the other idled. Caveat: a second gunicorn on the same port
# would share it rather than fail to bind; scripts/up.sh keeps one through its pid file.
reuse_port = True
accesslog = None  # per-request log lines cost throughput; /metrics counts requests
errorlog = "-"
loglevel = "info"
preload_app = False  # each worker opens its own Redis/Postgres connections after the fork

# Several workers: Prometheus counters go through files so /metrics sums every worker.
_multiproc_dir = _settings.prometheus_multiproc_dir
_own_multiproc_dir = None
if _multiproc_dir is None and workers > 1:
    _own_multiproc_dir = tempfile.mkdtemp(prefix="collector-prom-")
    _multiproc_dir = _own_multiproc_dir
    # prometheus_client reads this variable itself when a worker first imports it.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _multiproc_dir


# Requests gunicorn refuses before the app sees them (a NUL or CR in a header, too many or too large headers, a
# request line over 4094 bytes) get its HTML page; they get the collector's JSON envelope instead. gunicorn writes
# them through gunicorn.util.write_error alone (workers/base.py handle_error), looked up at each call.
_REFUSED_CODES = {400: "malformed_http", 403: "forbidden", 414: "uri_too_long", 417: "expectation_failed"}
_REFUSED_CODES |= {431: "headers_too_large", 500: "internal_error", 501: "not_implemented"}


def _write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    body = json.dumps({"code": _REFUSED_CODES.get(status_int, "malformed_http"), "message": mesg or reason}).encode()
    head = f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
    gunicorn.util.write_nonblock(sock, f"{head}Content-Length: {len(body)}\r\n\r\n".encode("latin-1") + body)


if hasattr(gunicorn.util, "write_error") and hasattr(gunicorn.util, "write_nonblock"):
    gunicorn.util.write_error = _write_json_error


def on_starting(server) -> None:
    # gunicorn >= 25.1 opens a control socket (gunicornc), by default $XDG_RUNTIME_DIR or $HOME/.gunicorn/gunicorn.ctl:
    # one path per user, so a second collector on the host (a test, a bench, a second deployment) took it over and
    # removed it when it stopped. It goes beside the pid file (the run folder: .run/collector.ctl under `make up`);
    # without a pid file, none is opened.
    if "control_socket" not in server.cfg.settings:
        return
    if server.cfg.pidfile:
        server.cfg.set("control_socket", os.path.splitext(os.path.abspath(server.cfg.pidfile))[0] + ".ctl")
    else:
        server.cfg.set("control_socket_disable", True)


def post_worker_init(worker) -> None:
    # The ~80,000 objects of the loaded app live as long as the worker; frozen, the cyclic GC stops rescanning
    # them (a full collection took ~50 ms, ~7 % of a worker's CPU under load).
    gc.collect()
    gc.freeze()


def child_exit(server, worker) -> None:
    if _multiproc_dir:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid, _multiproc_dir)


def on_exit(server) -> None:
    if _own_multiproc_dir:
        shutil.rmtree(_own_multiproc_dir, ignore_errors=True)
