"""The benchmark's decomposition runs (`collector_bench.py --decompose`): where a single event's time goes.

- `wsgi_204`: a plain WSGI callable that reads the body and answers 204, no Flask: what gunicorn alone costs.
- `collector_without_flask`: the collector's single-event work as a plain WSGI callable, no Flask.
- `collector_without_redis`: the real collector, except that its one Redis call answers "accepted" from memory:
  what the collector's own Python work costs (parsing, validation, record, response, metrics).
Neither is served anywhere else.
"""

from __future__ import annotations

from analytics.stream import Outcome


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


def collector_without_flask():
    """The collector's single-event work (body, JSON parse, validation, the Redis call, the JSON answer) as a plain
    WSGI callable: no Flask request or response objects, no routing, no metrics, no write-key or content-type check.
    An upper bound for serving POST /v1/track outside Flask. gunicorn calls it:
    `bench.collector_floor_apps:collector_without_flask()`."""
    import orjson

    from analytics.events import now_utc
    from ingest_api import create_app
    from ingest_api.track import parse_json

    ingestor = create_app().extensions["analytics.ingestor"]
    headers = [("Content-Type", "application/json")]

    def app(environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        (result,) = ingestor.ingest(
            [parse_json(body)], now_utc(), environ.get("HTTP_USER_AGENT"), environ.get("REMOTE_ADDR")
        )
        data = orjson.dumps(result.as_dict())
        status = {"accepted": "202 Accepted", "duplicate": "200 OK"}.get(result.status, "422 Unprocessable Entity")
        start_response(status, [*headers, ("Content-Length", str(len(data)))])
        return [data]

    return app
