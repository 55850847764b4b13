"""gunicorn entry point: `gunicorn ingest_api.wsgi:app`."""

from ingest_api import create_app

app = create_app()
