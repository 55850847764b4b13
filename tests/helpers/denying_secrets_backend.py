"""A secrets backend whose every lookup is denied, as a Vault policy would: Airflow raises it through (no fallthrough)."""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowSecretsBackendAccessDenied
from airflow.secrets.base_secrets import BaseSecretsBackend


class DenyingBackend(BaseSecretsBackend):
    def get_conn_value(self, conn_id: str, team_name: str | None = None) -> str | None:
        raise AirflowSecretsBackendAccessDenied(f"policy denies {conn_id}")

    def get_connection(self, conn_id: str, team_name: str | None = None):
        raise AirflowSecretsBackendAccessDenied(f"policy denies {conn_id}")
