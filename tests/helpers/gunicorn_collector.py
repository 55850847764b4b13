"""The collector under a real gunicorn on a free port (for tests of worker behaviour, and for bench/)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.helpers.redis_server import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def gunicorn_collector(
    env: dict[str, str], *, with_conf: bool = True, args: Sequence[str] = ()
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Serve `ingest_api.wsgi:app` with `env` over this process's environment; yield (base URL, process) once
    /readyz answers, kill it after.

    with_conf: run with the repository's gunicorn.conf.py (GUNICORN_* variables in `env` tune it); without it,
    gunicorn's own defaults, from a directory where no gunicorn.conf.py is picked up. `args` are added either way."""
    port = free_port()
    cmd = [sys.executable, "-m", "gunicorn"]
    if with_conf:
        env = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}"}
        cmd += ["-c", str(ROOT / "gunicorn.conf.py"), *args]
    else:
        cmd += ["-b", f"127.0.0.1:{port}", *args]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [*cmd, "ingest_api.wsgi:app"],
            cwd=ROOT if with_conf else tempfile.gettempdir(),
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        base = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"gunicorn exited {proc.returncode}: {log.read().decode()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{base}/readyz", timeout=1):
                    return True
            except OSError:
                return False

        try:
            wait_until(ready, "gunicorn to answer /readyz", timeout=60)
            yield base, proc
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
