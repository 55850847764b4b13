"""docker-compose.yml stays in step with the local path (it cannot run here; it must at least parse)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_mirror_airflows_celery_layout():
    services = _compose()["services"]
    expected = {
        "postgres",
        "redis",
        "collector",
        "airflow-init",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "airflow-worker",
    }
    assert expected <= set(services)
    assert "--appendonly" in services["redis"]["command"]
    env = services["airflow-worker"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    for name in (
        "DATABASE_URL",
        "REDIS_URL",
        "ANALYTICS_ADMIN_TOKEN",
        "ALERT_WEBHOOK_URL",
        "AIRFLOW_CONN_ANALYTICS_POSTGRES",
        "AIRFLOW_CONN_ANALYTICS_REDIS",
    ):
        assert name in env, name
    assert any("/opt/analytics/include" in v for v in services["airflow-worker"]["volumes"])


def test_compose_file_validates_with_the_docker_client_when_present():
    for cmd in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(cmd[0]) and subprocess.run([*cmd, "version"], capture_output=True).returncode == 0:
            result = subprocess.run([*cmd, "config", "-q"], cwd=ROOT, capture_output=True, text=True)
            assert result.returncode == 0, result.stderr
            return
    # No compose client on this machine: the structural test above is what we can check.


def test_alert_settings_reach_the_airflow_containers_and_are_documented():
    """Email alerts need Airflow's SMTP settings where tasks and callbacks run; every alert setting passed through
    is one the README's configuration table documents."""
    readme = (ROOT / "README.md").read_text()
    alert_settings = (
        "ALERT_WEBHOOK_URL",
        "ALERT_SLACK_WEBHOOK_URL",
        "ALERT_EMAIL_TO",
        "ALERT_TIMEOUT_SECONDS",
        "ALERT_COOLDOWN_MINUTES",
        "ANALYTICS_RUNBOOK_URL",
        "ANALYTICS_HEARTBEAT_URL",
        "AIRFLOW__SMTP__SMTP_HOST",
        "AIRFLOW__SMTP__SMTP_PORT",
        "AIRFLOW__SMTP__SMTP_USER",
        "AIRFLOW__SMTP__SMTP_PASSWORD",
        "AIRFLOW__SMTP__SMTP_MAIL_FROM",
        "AIRFLOW__SMTP__SMTP_STARTTLS",
        "AIRFLOW__SMTP__SMTP_SSL",
    )
    services = _compose()["services"]
    for service in ("airflow-worker", "airflow-scheduler", "airflow-dag-processor"):
        env = services[service]["environment"]
        for name in alert_settings:
            assert env.get(name, "").startswith(f"${{{name}:-"), (service, name)
    for name in alert_settings:
        short = name.replace("AIRFLOW__SMTP__SMTP_", "…_")
        assert f"`{name}`" in readme or f"`{short}`" in readme, f"README's configuration table lacks {name}"
