"""Settings read once from the environment; nothing else in the project calls os.getenv."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/analytics"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be a boolean, got {raw!r}")


def _csv(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in env.get(name, "").split(",") if part.strip())


_DEFAULT_PORTS = {"http": 80, "https": 443}


def cors_origin(entry: str) -> str:
    """An ANALYTICS_CORS_ORIGINS entry as a browser writes the Origin header it must equal: lower-case scheme and
    host, no path or trailing slash, no default port (`HTTPS://Shop.Example:443/` -> `https://shop.example`).
    `*`, `null` and what does not parse as scheme://host are kept as written (without a trailing slash)."""
    trimmed = entry.strip().rstrip("/")
    try:
        parts = urlsplit(trimmed)
        port = parts.port
    except ValueError:
        return trimmed
    if not parts.scheme or not parts.hostname:
        return trimmed
    scheme = parts.scheme.lower()
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname  # hostname is lower-cased
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != _DEFAULT_PORTS.get(scheme) else "")


def _origins(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(cors_origin(entry) for entry in _csv(env, name)))


@dataclass(frozen=True)
class Settings:
    """Every run-time knob of the collector and the DAGs."""

    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str = DEFAULT_REDIS_URL
    stream_key: str = "analytics:events"
    # Streams the collector spreads events over (docs/SCALING.md); 1 = the single stream `stream_key`.
    stream_shards: int = 1
    # REDIS_URL names one node of a Redis Cluster (redis-py RedisCluster; keys always carry a shard's hash tag).
    redis_cluster: bool = False
    # Answer 202 only once this many replicas have the appended events (WAIT after each script call); 0 = off.
    redis_wait_replicas: int = 0
    consumer_group: str = "analytics-loader"
    key_prefix: str = "analytics"
    admin_token: str | None = field(default=None, repr=False)
    write_keys: tuple[str, ...] = field(default=(), repr=False)
    # Collector limits and rules.
    max_body_bytes: int = 1_000_000
    max_batch_events: int = 50
    max_event_age_days: int = 7
    max_future_skew_seconds: int = 300
    backfill_sources: tuple[str, ...] = ("backfill", "import")
    # Sources accepted besides the registered ones (analytics.collect.registry.SOURCES).
    extra_sources: tuple[str, ...] = ()
    # Skew correction applies only when sentAt is within this of receivedAt (a clock error, not a replay).
    max_clock_skew_seconds: int = 900
    fingerprint_ttl_seconds: int = 60
    idempotency_ttl_seconds: int = 3600
    trusted_proxies: int = 0
    redis_timeout_seconds: float = 1.0
    # Loader.
    load_batch_size: int = 5000
    # Runs back to back under a one-minute schedule: the next starts as soon as this budget is spent.
    load_time_budget_seconds: int = 55
    # Keep blocking on the stream for new entries this long into a run (capped by the budget); 0 = stop when empty.
    load_follow_seconds: int = 55
    load_block_ms: int = 1000
    # Bounds the collector's receive→XADD gap (and its clock skew against Redis) in the load watermark.
    watermark_margin_seconds: int = 10
    reclaim_idle_ms: int = 60_000
    partition_days_ahead: int = 7
    retention_days: int = 0
    # Bookkeeping retention in days (0 = keep forever), applied daily by events_maintenance.
    idempotency_keys_retention_days: int = 30
    load_runs_retention_days: int = 30
    job_runs_retention_days: int = 90
    alerts_retention_days: int = 90  # resolved alerts only
    airflow_db_retention_days: int = 30  # Airflow's own metadata (airflow db clean)
    # Airflow's metadata database for `airflow db clean` in a task (Airflow 3 hides its own from tasks); has credentials
    airflow_db_url: str | None = field(default=None, repr=False)
    # Airflow REST API (admin flush) and alert links.
    airflow_api_url: str = "http://127.0.0.1:8080"
    airflow_username: str | None = None
    airflow_password: str | None = field(default=None, repr=False)
    # Alerts.
    alert_webhook_url: str | None = field(default=None, repr=False)  # may carry a token: never in logs
    alert_slack_webhook_url: str | None = field(default=None, repr=False)
    alert_email_to: tuple[str, ...] = ()
    # Dead-man switch: events_monitor GETs it after each pass whose checks all ran; an outside service pages when
    # the pings stop. May carry a token: never in logs.
    heartbeat_url: str | None = field(default=None, repr=False)
    # Segment-compatible endpoint: extra "Segment Name=event_type" mappings.
    segment_event_map: tuple[str, ...] = ()
    # Browser clients: origins whose pages may post to the public endpoints ("*" = any); empty = no CORS.
    cors_origins: tuple[str, ...] = ()
    # Enrichment: events without a sessionId are grouped per actor into sessions split by this much inactivity.
    session_inactivity_minutes: int = 30
    alert_timeout_seconds: float = 5.0
    alert_cooldown_minutes: int = 60
    # Where alerts link the runbook: the repo path by default, a URL (…/RUNBOOK.md) to make the link clickable.
    runbook_url: str = "docs/RUNBOOK.md"
    # SMTP for ALERT_EMAIL_TO: Airflow's own [smtp] settings (AIRFLOW__SMTP__*), so one place configures both.
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_mail_from: str = "airflow@localhost"
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    # Nightly deduplication.
    dedup_window_ms: int = 1000
    dedup_context_minutes: int = 10
    # Monitor thresholds.
    monitor_window_minutes: int = 15
    monitor_min_checks: int = 20
    monitor_dedup_rate_max: float = 0.10
    monitor_nightly_dedup_rate_max: float = 0.10
    monitor_rejection_rate_max: float = 0.05
    monitor_lag_max: int = 50_000
    monitor_pending_age_max_seconds: int = 300
    monitor_load_stale_minutes: int = 10
    monitor_nightly_overdue_hours: int = 26  # no deduplication run for this long pages monitor.nightly_overdue
    monitor_enrich_backlog_max: int = 100
    monitor_enrich_grace_minutes: int = 120
    monitor_stream_loss_hours: int = 24
    monitor_require_durable_redis: bool = True

    # Collector: referential integrity cache, rejected-item stream bound, gunicorn.
    check_references: bool = True
    collector_fast_path: bool = True  # ingest_api.fast: the plain track/batch requests below Flask's machinery
    refs_ttl_seconds: int = 86_400
    refs_timeout_seconds: float = 2.0
    airflow_timeout_seconds: float = 10.0
    # The Airflow connections as the environment defines them (AIRFLOW_CONN_ANALYTICS_*): Airflow reports an
    # unparseable one as "not defined", analytics.connections needs to tell the two apart.
    airflow_conn_postgres: str | None = field(default=None, repr=False)
    airflow_conn_redis: str | None = field(default=None, repr=False)
    gunicorn_bind: str = "127.0.0.1:8000"
    gunicorn_workers: int = 2
    gunicorn_worker_class: str = "gevent"  # gevent | gthread | sync
    gunicorn_threads: int = 4  # gthread only
    gunicorn_connections: int = 1000  # gevent only: concurrent connections per worker
    gunicorn_graceful_timeout: int = 30
    prometheus_multiproc_dir: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            database_url=env.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            redis_url=env.get("REDIS_URL") or DEFAULT_REDIS_URL,
            stream_key=env.get("ANALYTICS_STREAM_KEY") or "analytics:events",
            stream_shards=max(1, _int(env, "ANALYTICS_STREAM_SHARDS", 1)),
            redis_cluster=_bool(env, "ANALYTICS_REDIS_CLUSTER", False),
            redis_wait_replicas=_int(env, "ANALYTICS_REDIS_WAIT_REPLICAS", 0),
            consumer_group=env.get("ANALYTICS_CONSUMER_GROUP") or "analytics-loader",
            key_prefix=env.get("ANALYTICS_KEY_PREFIX") or "analytics",
            admin_token=env.get("ANALYTICS_ADMIN_TOKEN") or None,
            write_keys=_csv(env, "ANALYTICS_WRITE_KEYS"),
            max_body_bytes=_int(env, "ANALYTICS_MAX_BODY_BYTES", 1_000_000),
            max_batch_events=_int(env, "ANALYTICS_MAX_BATCH_EVENTS", 50),
            max_event_age_days=_int(env, "ANALYTICS_MAX_EVENT_AGE_DAYS", 7),
            backfill_sources=_csv(env, "ANALYTICS_BACKFILL_SOURCES") or ("backfill", "import"),
            extra_sources=_csv(env, "ANALYTICS_EXTRA_SOURCES"),
            max_clock_skew_seconds=_int(env, "ANALYTICS_MAX_CLOCK_SKEW_SECONDS", 900),
            trusted_proxies=_int(env, "ANALYTICS_TRUSTED_PROXIES", 0),
            load_batch_size=_int(env, "ANALYTICS_LOAD_BATCH_SIZE", 5000),
            load_time_budget_seconds=_int(env, "ANALYTICS_LOAD_TIME_BUDGET_SECONDS", 55),
            load_follow_seconds=_int(env, "ANALYTICS_LOAD_FOLLOW_SECONDS", 55),
            load_block_ms=_int(env, "ANALYTICS_LOAD_BLOCK_MS", 1000),
            watermark_margin_seconds=_int(env, "ANALYTICS_WATERMARK_MARGIN_SECONDS", 10),
            reclaim_idle_ms=_int(env, "ANALYTICS_RECLAIM_IDLE_MS", 60_000),
            partition_days_ahead=_int(env, "ANALYTICS_PARTITION_DAYS_AHEAD", 7),
            retention_days=_int(env, "ANALYTICS_RETENTION_DAYS", 0),
            idempotency_keys_retention_days=_int(env, "ANALYTICS_IDEMPOTENCY_KEYS_RETENTION_DAYS", 30),
            load_runs_retention_days=_int(env, "ANALYTICS_LOAD_RUNS_RETENTION_DAYS", 30),
            job_runs_retention_days=_int(env, "ANALYTICS_JOB_RUNS_RETENTION_DAYS", 90),
            alerts_retention_days=_int(env, "ANALYTICS_ALERTS_RETENTION_DAYS", 90),
            airflow_db_retention_days=_int(env, "ANALYTICS_AIRFLOW_DB_RETENTION_DAYS", 30),
            airflow_db_url=env.get("ANALYTICS_AIRFLOW_DB_URL") or None,
            airflow_api_url=(env.get("AIRFLOW_API_URL") or "http://127.0.0.1:8080").rstrip("/"),
            airflow_username=env.get("AIRFLOW_API_USERNAME") or None,
            airflow_password=env.get("AIRFLOW_API_PASSWORD") or None,
            airflow_conn_postgres=env.get("AIRFLOW_CONN_ANALYTICS_POSTGRES") or None,
            airflow_conn_redis=env.get("AIRFLOW_CONN_ANALYTICS_REDIS") or None,
            alert_webhook_url=env.get("ALERT_WEBHOOK_URL") or None,
            alert_slack_webhook_url=env.get("ALERT_SLACK_WEBHOOK_URL") or None,
            alert_email_to=_csv(env, "ALERT_EMAIL_TO"),
            heartbeat_url=env.get("ANALYTICS_HEARTBEAT_URL") or None,
            segment_event_map=_csv(env, "ANALYTICS_SEGMENT_EVENT_MAP"),
            cors_origins=_origins(env, "ANALYTICS_CORS_ORIGINS"),
            session_inactivity_minutes=_int(env, "ANALYTICS_SESSION_INACTIVITY_MINUTES", 30),
            alert_timeout_seconds=_float(env, "ALERT_TIMEOUT_SECONDS", 5.0),
            alert_cooldown_minutes=_int(env, "ALERT_COOLDOWN_MINUTES", 60),
            runbook_url=(env.get("ANALYTICS_RUNBOOK_URL") or "docs/RUNBOOK.md").strip(),
            smtp_host=env.get("AIRFLOW__SMTP__SMTP_HOST") or "localhost",
            smtp_port=_int(env, "AIRFLOW__SMTP__SMTP_PORT", 25),
            smtp_user=env.get("AIRFLOW__SMTP__SMTP_USER") or None,
            smtp_password=env.get("AIRFLOW__SMTP__SMTP_PASSWORD") or None,
            smtp_mail_from=env.get("AIRFLOW__SMTP__SMTP_MAIL_FROM") or "airflow@localhost",
            smtp_starttls=_bool(env, "AIRFLOW__SMTP__SMTP_STARTTLS", False),
            smtp_ssl=_bool(env, "AIRFLOW__SMTP__SMTP_SSL", False),
            dedup_window_ms=_int(env, "ANALYTICS_DEDUP_WINDOW_MS", 1000),
            dedup_context_minutes=_int(env, "ANALYTICS_DEDUP_CONTEXT_MINUTES", 10),
            monitor_window_minutes=_int(env, "ANALYTICS_MONITOR_WINDOW_MINUTES", 15),
            monitor_min_checks=_int(env, "ANALYTICS_MONITOR_MIN_CHECKS", 20),
            monitor_dedup_rate_max=_float(env, "ANALYTICS_MONITOR_DEDUP_RATE_MAX", 0.10),
            monitor_nightly_dedup_rate_max=_float(env, "ANALYTICS_MONITOR_NIGHTLY_DEDUP_RATE_MAX", 0.10),
            monitor_rejection_rate_max=_float(env, "ANALYTICS_MONITOR_REJECTION_RATE_MAX", 0.05),
            monitor_lag_max=_int(env, "ANALYTICS_MONITOR_LAG_MAX", 50_000),
            monitor_pending_age_max_seconds=_int(env, "ANALYTICS_MONITOR_PENDING_AGE_MAX_SECONDS", 300),
            monitor_load_stale_minutes=_int(env, "ANALYTICS_MONITOR_LOAD_STALE_MINUTES", 10),
            monitor_nightly_overdue_hours=_int(env, "ANALYTICS_MONITOR_NIGHTLY_OVERDUE_HOURS", 26),
            monitor_enrich_backlog_max=_int(env, "ANALYTICS_MONITOR_ENRICH_BACKLOG_MAX", 100),
            monitor_enrich_grace_minutes=_int(env, "ANALYTICS_MONITOR_ENRICH_GRACE_MINUTES", 120),
            monitor_stream_loss_hours=_int(env, "ANALYTICS_MONITOR_STREAM_LOSS_HOURS", 24),
            monitor_require_durable_redis=_bool(env, "ANALYTICS_MONITOR_REQUIRE_DURABLE_REDIS", True),
            check_references=_bool(env, "ANALYTICS_CHECK_REFERENCES", True),
            collector_fast_path=_bool(env, "ANALYTICS_COLLECTOR_FAST_PATH", True),
            refs_ttl_seconds=_int(env, "ANALYTICS_REFS_TTL_SECONDS", 86_400),
            airflow_timeout_seconds=_float(env, "AIRFLOW_API_TIMEOUT_SECONDS", 10.0),
            gunicorn_bind=env.get("GUNICORN_BIND") or "127.0.0.1:8000",
            gunicorn_workers=_int(env, "GUNICORN_WORKERS", 2),
            gunicorn_worker_class=env.get("GUNICORN_WORKER_CLASS") or "gevent",
            gunicorn_threads=_int(env, "GUNICORN_THREADS", 4),
            gunicorn_connections=_int(env, "GUNICORN_CONNECTIONS", 1000),
            gunicorn_graceful_timeout=_int(env, "GUNICORN_GRACEFUL_TIMEOUT", 30),
            prometheus_multiproc_dir=env.get("PROMETHEUS_MULTIPROC_DIR") or None,
            redis_timeout_seconds=_float(env, "ANALYTICS_REDIS_TIMEOUT_SECONDS", 1.0),
        )

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


def get_settings() -> Settings:
    return Settings.from_env()
