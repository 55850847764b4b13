"""The Flask collector: app factory wiring config, Redis and the blueprints."""

from __future__ import annotations

from flask import Flask

from analytics.collect.ingest import Ingestor
from analytics.collect.keys import Keys
from analytics.collect.stream import StreamWriter
from analytics.config import Settings, get_settings
from analytics.redis_client import open_redis


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or get_settings()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False
    app.extensions["analytics.settings"] = settings
    client = open_redis(
        settings.redis_url,
        settings,
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
        health_check_interval=30,
    )
    keys = Keys.from_settings(settings)
    app.extensions["analytics.redis"] = client
    app.extensions["analytics.keys"] = keys
    writer = StreamWriter.from_settings(client, settings)
    app.extensions["analytics.writer"] = writer
    app.extensions["analytics.ingestor"] = Ingestor(settings, writer)

    from ingest_api import admin, cors, errors, fast, health, metrics, track, tracker

    errors.register(app)
    fast.install(app)
    cors.install(app)
    metrics.install(app, metrics.Metrics(settings.prometheus_multiproc_dir))
    app.register_blueprint(health.bp)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(track.bp)
    app.register_blueprint(tracker.bp)
    app.register_blueprint(admin.bp)

    from ingest_api import segment

    app.register_blueprint(segment.bp)
    return app
