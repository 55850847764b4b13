"""Payloads of the Airflow UI monitoring dashboard.

Figures come from analytics.collect.stats (as /v1/admin/stats reads them) and every "above threshold" verdict from
running the monitor DAG's own checks (analytics.monitor.checks), so the page turns red exactly when events_monitor
would alert. Only the chart series, the recent-runs lists and the per-hour backlog are read here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import psycopg
import redis

from analytics.collect import stats
from analytics.collect.keys import Keys
from analytics.config import Settings
from analytics.db import connect
from analytics.monitor import checks
from analytics.redis_client import open_redis
from analytics.sql import load_sql

NIGHTLY_DEDUP_JOB = "dedup"  # analytics.dedup.job records its runs under this job name
MAX_HOURS = 24
RECENT_LOADS = 10
RECENT_ALERTS = 20
BACKLOG_HOURS = 24


def overview(settings: Settings, *, hours: int = 3, now: datetime | None = None) -> dict[str, Any]:
    """Every section of the page; a section whose store is down says so instead of failing the whole payload."""
    now = now or datetime.now(UTC)
    hours = max(1, min(MAX_HOURS, hours))
    out: dict[str, Any] = {"generatedAt": _iso(now), "hours": hours}

    client = open_redis(
        settings.redis_url,
        settings,
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
    )
    try:
        out["collector"] = _section(collector_section, client, settings, hours, now)
        out["stream"] = _section(stream_section, client, settings, now)
    finally:
        client.close()

    pg_sections: dict[str, Callable[..., dict[str, Any]]] = {
        "loads": loads_section,
        "enrichment": enrichment_section,
        "nightlyDedup": nightly_dedup_section,
        "alerts": alerts_section,
    }
    try:
        # A short connect timeout: a dead database must show as such, not hang the page.
        conn = connect(settings.database_url, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        failed = _failure(exc)
        out.update({name: failed for name in pg_sections})
        return out
    with conn:
        for name, fn in pg_sections.items():
            out[name] = _section(fn, conn, settings, now)
    return out


def collector_section(client: redis.Redis, settings: Settings, hours: int, now: datetime) -> dict[str, Any]:
    keys = Keys.from_settings(settings)
    at = now.timestamp()
    figures, breaches = _check(checks.check_collector, client, settings, now)
    last_hour = stats.collector_summary(client, keys, 3600, at)
    dedup = [b for b in breaches if b["kind"] == "monitor.collector_dedup_rate"]
    return {
        "series": stats.collector_timeseries(client, keys, hours * 60, at),
        "lastHour": _brief(last_hour),
        "monitorWindow": _brief(figures["collector"]),
        "dedupThreshold": settings.monitor_dedup_rate_max,
        "dedupMinChecks": settings.monitor_min_checks,
        "dedupAboveThreshold": bool(dedup),
        "dedupSourcesAbove": [b["key"].split(":", 1)[-1] for b in dedup],
        "rejectionThreshold": settings.monitor_rejection_rate_max,
        "rejectionAboveThreshold": any(b["kind"] == "monitor.collector_rejection_rate" for b in breaches),
        "breaches": breaches,
        "empty": "no events in the last hour" if not (last_hour["totalChecks"] or last_hour["rejected"]) else None,
    }


def stream_section(client: redis.Redis, settings: Settings, now: datetime) -> dict[str, Any]:
    figures, breaches = _check(checks.check_stream, client, settings, now)
    durability, not_durable = _check(checks.check_redis_durability, client, settings, now)
    kinds = {b["kind"] for b in breaches}
    return figures["stream"] | {
        "shards": figures.get("streams"),  # per stream when sharded (None: one stream)
        "lagMax": settings.monitor_lag_max,
        "pendingAgeMaxSeconds": settings.monitor_pending_age_max_seconds,
        "lagAboveThreshold": "monitor.stream_lag" in kinds,
        "pendingAboveThreshold": "monitor.stuck_pending" in kinds,
        "redis": durability["redisDurability"],  # per server holding a stream: AOF, maxmemory-policy, risks
        "redisNotDurable": bool(not_durable),  # alerted (unless ANALYTICS_MONITOR_REQUIRE_DURABLE_REDIS=0)
        "breaches": breaches + not_durable,
    }


def loads_section(conn: psycopg.Connection, settings: Settings, now: datetime) -> dict[str, Any]:
    _, breaches = _check(checks.check_load, conn, settings, now)
    last = stats.last_load(conn)
    recent = _rows(conn, "dashboard/select_recent_loads", {"limit": RECENT_LOADS})
    return {
        "last": _jsonable(last),
        "recent": recent,
        "staleAfterSeconds": settings.monitor_load_stale_minutes * 60,
        "stale": bool(breaches),
        "breaches": breaches,
        "sinceLastLoadSeconds": _age(now, last["finished_at"]) if last else None,
        "dataFreshnessSeconds": _age(now, last["max_received_at"]) if last else None,
        "counts": _counts(conn, now),
        "empty": "no load has run yet" if last is None else None,
    }


def _counts(conn: psycopg.Connection, now: datetime) -> dict[str, Any]:
    """What the monitor's accepted-against-stored check found over the last day (it writes, the page only reads)."""
    since = now.replace(minute=0, second=0, microsecond=0) - checks.COUNT_LOOKBACK
    last, hours_missing, missing = conn.execute(load_sql("dashboard/select_count_checks"), {"since": since}).fetchone()
    return {
        "comparedUpTo": _iso(last + checks.HOUR) if last else None,
        "hoursMissing": hours_missing,
        "missing": missing,
    }


def enrichment_section(conn: psycopg.Connection, settings: Settings, now: datetime) -> dict[str, Any]:
    figures, breaches = _check(checks.check_enrich, conn, settings, now)
    until = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    since = until - timedelta(hours=BACKLOG_HOURS)
    params = {"since": since, "until": until}
    found = {r["hour"]: r["waiting"] for r in _rows(conn, "dashboard/select_enrichment_backlog", params)}
    rows = [
        {"hour": h, "waiting": found.get(h, 0)}
        for h in (_iso(since + timedelta(hours=i)) for i in range(BACKLOG_HOURS))
    ]
    total = sum(found.values())
    judged = figures.get("enrich") or {}
    return {
        "hours": BACKLOG_HOURS,
        "perHour": rows,
        "total": total,
        "overdue": judged.get("overdue"),
        "graceMinutes": settings.monitor_enrich_grace_minutes,
        "backlogMax": settings.monitor_enrich_backlog_max,
        "aboveThreshold": bool(breaches),
        "breaches": breaches,
        "empty": "nothing waiting for enrichment" if not total else None,
    }


def nightly_dedup_section(conn: psycopg.Connection, settings: Settings, now: datetime) -> dict[str, Any]:
    figures, breaches = _check(checks.check_nightly, conn, settings, now)
    rows = _rows(conn, "dashboard/select_last_job_run", {"job": NIGHTLY_DEDUP_JOB})
    if not rows:
        return {"last": None, "breaches": breaches, "empty": "the nightly deduplication has not run yet"}
    last = rows[0]
    return {
        "last": last,
        "rate": round((figures.get("nightly") or {}).get("rate", 0.0), 6),
        "threshold": settings.monitor_nightly_dedup_rate_max,
        "aboveThreshold": bool(breaches),
        "breaches": breaches,
        "ageSeconds": _age(now, last["finished_at"]),
        "empty": None,
    }


def alerts_section(conn: psycopg.Connection, settings: Settings, now: datetime) -> dict[str, Any]:
    rows = _rows(conn, "dashboard/select_recent_alerts", {"limit": RECENT_ALERTS})
    firing = rows[0].pop("firing_total") if rows else 0
    for row in rows[1:]:
        row.pop("firing_total")
    for row in rows:
        row["logUrl"] = _safe_link(row.pop("log_url")) or _task_link(row)
    return {"recent": rows, "firing": firing, "empty": "no alerts" if not rows else None}


def _safe_link(url: str | None) -> str | None:
    """Only http(s) or same-origin paths become links: an alert row must never carry a javascript: URL."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return url
    if not parts.scheme and not parts.netloc and url.startswith("/"):
        return url
    return None


def _task_link(alert: dict[str, Any]) -> str | None:
    """The task's page in the Airflow UI (its logs are one tab away) when the alert did not store a log URL."""
    if not (alert.get("dag_id") and alert.get("run_id")):
        return None
    link = f"/dags/{quote(alert['dag_id'], safe='')}/runs/{quote(alert['run_id'], safe='')}"
    return f"{link}/tasks/{quote(alert['task_id'], safe='')}" if alert.get("task_id") else link


def _check(check: Callable[..., None], *args: Any) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """Run one of the monitor DAG's checks: its figures, and the alerts it would raise now."""
    report = checks.Report()
    check(report, *args)
    breaches = [{"kind": a.kind, "key": a.alert_key, "title": a.title, "message": a.message} for a in report.findings]
    return report.figures, breaches


def _brief(summary: dict[str, Any]) -> dict[str, Any]:
    keep = ("windowSeconds", "totalChecks", "accepted", "duplicatesFound", "duplicatesByReason", "rejected")
    return {k: summary[k] for k in keep} | {"deduplicationRate": summary["deduplicationRate"]}


def _section(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        body = fn(*args)
    except (redis.RedisError, psycopg.Error) as exc:
        return _failure(exc)
    return {"ok": True, "error": None, **body, "ms": round((time.perf_counter() - started) * 1000, 1)}


def _failure(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        message = "Redis unreachable"
    elif isinstance(exc, redis.RedisError):
        message = "Redis error"
    elif isinstance(exc, psycopg.OperationalError):
        message = "PostgreSQL unreachable"
    else:
        message = "PostgreSQL query failed"
    return {"ok": False, "error": message, "detail": f"{type(exc).__name__}: {str(exc).strip()[:200]}"}


def _rows(conn: psycopg.Connection, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    cur = conn.execute(load_sql(name), params)
    names = [c.name for c in cur.description or ()]
    return [_jsonable(dict(zip(names, row, strict=True))) for row in cur.fetchall()]


def _jsonable(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {k: _iso(v) if isinstance(v, datetime) else v for k, v in row.items()}


def _age(now: datetime, at: datetime | str | None) -> float | None:
    if at is None:
        return None
    when = datetime.fromisoformat(at.replace("Z", "+00:00")) if isinstance(at, str) else at
    return round(max(0.0, (now - when).total_seconds()), 3)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
