"""GET /metrics (Prometheus text): requests, events by outcome and reason, latency histogram.

Under gunicorn with several workers set PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py does) so every
worker's counts are summed.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from flask import Blueprint, Flask, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

bp = Blueprint("metrics", __name__)

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self, multiproc_dir: str | None = None):
        self.multiproc_dir = multiproc_dir
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "collector_requests_total",
            "HTTP requests by endpoint, method and status",
            ["endpoint", "method", "status"],
            registry=self.registry,
        )
        self.events = Counter(
            "collector_events_total",
            "Events by outcome (accepted, duplicate, rejected) and reason",
            ["outcome", "reason"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "collector_request_duration_seconds",
            "Request latency by endpoint",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

        self._children: dict[tuple, Any] = {}

    def child(self, metric: Counter | Histogram, *labels: str) -> Any:
        """labels() takes a lock and builds a key each call; the label sets here are few, so keep them."""
        key = (metric._name, labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def count_results(self, results: Iterable) -> None:
        """One inc(n) per (outcome, reason) of the request, not one per event."""
        counts: dict[tuple[str, str], int] = {}
        for r in results:
            key = (r.status, r.reason or "")
            counts[key] = counts.get(key, 0) + 1
        for (status, reason), n in counts.items():
            self.child(self.events, status, reason).inc(n)

    def render(self) -> bytes:
        if self.multiproc_dir:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=self.multiproc_dir)
            return generate_latest(registry)
        return generate_latest(self.registry)


def install(app: Flask, metrics: Metrics) -> None:
    """Count every request and time it, around the whole WSGI app (status included) rather than in Flask
    before/after_request hooks: ~10 µs less per request. Endpoints are labelled by their rule; every rule of
    this app is a fixed path, so the label comes from the path (unknown paths: "unmatched")."""
    app.extensions["analytics.metrics"] = metrics
    inner = app.wsgi_app
    routes: dict[str, str] | None = None

    def endpoint_of(path: str) -> str:
        nonlocal routes
        if routes is None:  # blueprints are registered after install(): read the map on the first request
            routes = {r.rule: r.rule for r in app.url_map.iter_rules() if not r.arguments}
        found = routes.get(path)
        if found is not None:
            return found
        if app.static_url_path and path.startswith(app.static_url_path + "/"):
            return f"{app.static_url_path}/<path:filename>"
        return "unmatched"

    def wsgi_app(environ, start_response):
        t0 = time.perf_counter()
        status = "500"

        def recording_start_response(status_line, headers, exc_info=None):
            nonlocal status
            status = status_line[:3]
            return start_response(status_line, headers, exc_info)

        try:
            return inner(environ, recording_start_response)
        finally:
            endpoint = endpoint_of(environ.get("PATH_INFO", ""))
            method = environ.get("REQUEST_METHOD", "")
            metrics.child(metrics.requests, endpoint, method if method in _METHODS else "other", status).inc()
            metrics.child(metrics.latency, endpoint).observe(time.perf_counter() - t0)

    wsgi_app.wrapped = inner  # type: ignore[attr-defined]
    app.wsgi_app = wsgi_app


@bp.get("/metrics")
def metrics_text():
    metrics: Metrics = current_app.extensions["analytics.metrics"]
    return Response(metrics.render(), content_type=CONTENT_TYPE_LATEST)
