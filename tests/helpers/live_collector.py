"""The real collector over HTTP on a free port, behind a gate that can fail, lose or hold requests."""

from __future__ import annotations

import gzip
import io
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import make_server


@dataclass
class Gate:
    """WSGI middleware recording each request; the knobs inject the failures a client must survive."""

    app: Any
    fail_next: int = 0  # answer 503 without touching the collector
    lose_next: int = 0  # let the collector store the events, then answer 502 as a broken proxy would
    status_once: int | None = None  # answer this status once, collector untouched
    retry_after: str | None = None  # Retry-After header on injected answers
    hold: threading.Event | None = None  # block each request until set
    entered: threading.Event = field(default_factory=threading.Event)
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(raw)
        record = {
            "path": environ["PATH_INFO"],
            "raw": raw,
            "headers": _headers(environ),
            "body": _decode(environ, raw),
            "at": time.monotonic(),  # arrival, for lower bounds ("not before the interval"), never upper
        }
        with self.lock:
            self.requests.append(record)
            fail, lose, status = self.fail_next > 0, self.fail_next <= 0 and self.lose_next > 0, self.status_once
            self.fail_next -= fail
            self.lose_next -= lose
            self.status_once = None
        self.entered.set()
        if self.hold is not None:
            self.hold.wait(10)
        if fail:
            return _reply(
                start_response, "503 Service Unavailable", {"code": "unavailable", "message": "injected"}, self
            )
        if status is not None:
            return _reply(start_response, f"{status} Injected", {"code": "injected", "message": "injected"}, self)
        if lose:
            body = b"".join(self.app(environ, lambda *a, **k: None))
            assert body  # the collector did answer; the answer is what gets lost
            return _reply(start_response, "502 Bad Gateway", {"code": "bad_gateway", "message": "injected"})

        def recording(status: str, headers, exc_info=None):
            record["status"] = int(status.split()[0])
            return start_response(status, headers, exc_info)

        answer = self.app(environ, recording)
        try:
            data = b"".join(answer)
        finally:
            if hasattr(answer, "close"):
                answer.close()
        record["answer"] = _decode({}, data)  # the collector's own answer (a passed-through request only)
        return [data]

    def events_per_request(self, path: str = "/v1/track/batch") -> list[int]:
        return [len(r["body"]["events"]) for r in self.requests if r["path"] == path]


def _headers(environ) -> dict[str, str]:
    return {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}


def _decode(environ, raw: bytes) -> Any:
    try:
        if environ.get("HTTP_CONTENT_ENCODING") == "gzip":
            raw = gzip.decompress(raw)
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _reply(start_response, status: str, body: dict[str, str], gate: Gate | None = None):
    data = json.dumps(body).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    if gate is not None and gate.retry_after is not None:
        headers.append(("Retry-After", gate.retry_after))
    start_response(status, headers)
    return [data]


@contextmanager
def live_collector(settings, *, cors_outside_gate: bool = False) -> Iterator[tuple[str, Gate]]:
    """Yield (base URL, gate) for `create_app(settings)` served by werkzeug in a thread.

    cors_outside_gate: the collector's CORS layer (settings.cors_origins) goes around the gate instead of inside
    the app, so a web page can read the gate's injected answers (status, Retry-After) as it reads the collector's.
    """
    from ingest_api import create_app
    from ingest_api.cors import Cors

    if cors_outside_gate:
        gate = Gate(create_app(settings.with_overrides(cors_origins=())))
        served: Any = Cors(gate, settings.cors_origins)
    else:
        gate = served = Gate(create_app(settings))
    server = make_server("127.0.0.1", 0, served, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}", gate
    finally:
        if gate.hold is not None:
            gate.hold.set()
        server.shutdown()
        thread.join(5)
