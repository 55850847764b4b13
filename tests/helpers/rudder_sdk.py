"""RudderStack's Python SDK, imported without letting it change this process's environment."""

from __future__ import annotations

import os


def rudder_client_class() -> type:
    """RudderStack's SDK calls python-dotenv's `load_dotenv()` when imported (rudderstack/analytics/get_env.py): in a
    checkout where `make up` wrote `.env`, that put the running stack's settings (its Airflow metadata database, its
    AIRFLOW_HOME) into the importing process's environment, for every test (or bench run) after it. Import it with the
    environment put back."""
    saved = dict(os.environ)
    try:
        from rudderstack.analytics.client import Client
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return Client
