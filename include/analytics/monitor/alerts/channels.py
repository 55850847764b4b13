"""Delivery channels: generic JSON webhook, Slack incoming webhook, email over SMTP."""

from __future__ import annotations

import json
import smtplib
import urllib.request
from email.message import EmailMessage

from analytics.config import Settings
from analytics.monitor.alerts.model import Alert


def _post_json(url: str, body: dict, timeout: float) -> None:
    req = urllib.request.Request(
        url, data=json.dumps(body, default=str).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - operator-configured URL
        if resp.status >= 300:
            raise RuntimeError(f"HTTP {resp.status} from {url}")


def send_webhook(alert: Alert, settings: Settings) -> None:
    assert settings.alert_webhook_url
    _post_json(settings.alert_webhook_url, alert.as_payload(), settings.alert_timeout_seconds)


def slack_escape(text: str) -> str:
    """Slack's message formatting: &, < and > are control characters (links, mentions) and must be escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def send_slack(alert: Alert, settings: Settings) -> None:
    assert settings.alert_slack_webhook_url
    body = {"text": slack_escape(alert.as_text())}
    _post_json(settings.alert_slack_webhook_url, body, settings.alert_timeout_seconds)


def send_email(alert: Alert, settings: Settings) -> None:
    msg = EmailMessage()
    msg["Subject"] = f"[{alert.state}] {alert.title}"
    msg["From"] = settings.smtp_mail_from
    msg["To"] = ", ".join(settings.alert_email_to)
    msg.set_content(alert.as_text())
    smtp_cls = smtplib.SMTP_SSL if settings.smtp_ssl else smtplib.SMTP
    with smtp_cls(settings.smtp_host, settings.smtp_port, timeout=settings.alert_timeout_seconds) as smtp:
        if settings.smtp_starttls and not settings.smtp_ssl:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password or "")
        smtp.send_message(msg)


def enabled_channels(settings: Settings) -> dict:
    """Channel name → sender, for each channel the configuration turns on."""
    out = {}
    if settings.alert_webhook_url:
        out["webhook"] = send_webhook
    if settings.alert_slack_webhook_url:
        out["slack"] = send_slack
    if settings.alert_email_to:
        out["email"] = send_email
    return out
