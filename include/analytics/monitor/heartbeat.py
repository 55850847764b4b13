"""The dead-man switch: a GET to ANALYTICS_HEARTBEAT_URL (healthchecks.io, Cronitor, an Uptime Kuma push monitor,
Better Stack) after a monitor pass; the service pages when the pings stop, which nothing inside the pipeline can."""

from __future__ import annotations

import logging
import threading
import urllib.request
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

ERROR_CHARS = 200  # of the error's text in the outcome (analytics.job_runs, the XCom)


def where(url: str) -> str:
    """scheme://host[:port]: all a log may say of the URL (its user, path or query may be the token)."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "the heartbeat URL (unparseable)"
    if not parts.scheme or not parts.hostname:
        return "the heartbeat URL"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}{port}"


def _without_url(text: str, url: str) -> str:
    """The error's text without the URL or any part of it that may be the token (urllib names a URL of unknown type,
    http.client a path with control characters in it)."""
    secrets = {url}
    try:
        parts = urlsplit(url)
        secrets |= {parts.path, parts.query, parts.fragment, parts.username or "", parts.password or ""}
        secrets.add(url.split(parts.netloc, 1)[-1] if parts.netloc else url)  # path, query and fragment together
    except ValueError:
        pass
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) > 1:
            text = text.replace(secret, "<heartbeat url>" if secret == url else "…")
    return text


def ping(url: str, timeout: float) -> str:
    """GET the URL; "sent" or "failed: <error>" (without the URL). Never raises, and returns within `timeout` however
    the service answers: one that trickles its answer trips no socket timeout, so the request runs in a thread of its
    own that is left to finish on its own."""
    outcome: list[str] = []

    def attempt() -> None:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - operator-configured URL
                if resp.status >= 300:
                    raise RuntimeError(f"HTTP {resp.status}")
            outcome.append("sent")
        except Exception as exc:
            outcome.append(f"failed: {type(exc).__name__}: {_without_url(str(exc), url)[:ERROR_CHARS]}")

    thread = threading.Thread(target=attempt, name="heartbeat", daemon=True)
    thread.start()
    thread.join(timeout)
    result = outcome[0] if outcome else f"failed: no answer within {timeout:g}s"
    if result != "sent":
        log.warning("heartbeat to %s %s", where(url), result)
    return result
