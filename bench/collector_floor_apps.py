"""The benchmark's decomposition runs (`collector_bench.py --decompose`): where a single event's time goes.

- `wsgi_204`: a plain WSGI callable that reads the body and answers 204, no Flask: what gunicorn alone costs.
- `collector_through_flask`: the collector with its fast path off (ingest_api.fast): every request through Flask.
- `collector_without_redis`: the real collector, except that its one Redis call answers "accepted" from memory:
  what the collector's own Python work costs (parsing, validation, record, response, metrics).
Neither is served anywhere else.
"""

from __future__ import annotations

from analytics.collect.stream import Outcome


def wsgi_204(environ, start_response):
    environ["wsgi.input"].read()
    start_response("204 No Content", [])
    return [b""]


def collector_without_redis():
    """gunicorn calls it: `bench.collector_floor_apps:collector_without_redis()`."""
    from ingest_api import create_app

    app = create_app()
    writer = app.extensions["analytics.writer"]

    def append(items, rejections=(), *, rejected_at="", now=None):
        return [Outcome("accepted", item.id, "0-0") for item in items]

    writer.append = append
    return app


def collector_through_flask():
    """The collector with ANALYTICS_COLLECTOR_FAST_PATH=0: every request through Flask's views.
    gunicorn calls it: `bench.collector_floor_apps:collector_through_flask()`."""
    from analytics.config import get_settings
    from ingest_api import create_app

    return create_app(get_settings().with_overrides(collector_fast_path=False))
