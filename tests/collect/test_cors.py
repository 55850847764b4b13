"""CORS on the public ingestion endpoints (ANALYTICS_CORS_ORIGINS), never on the admin ones."""

from __future__ import annotations

import json

import pytest

from ingest_api.cors import Cors
from tests.collect.test_collector import ev

PUBLIC = ("/v1/track", "/v1/track/batch", "/segment/v1/batch", "/segment/v1/t", "/segment/v1/b")


def _app(settings, origins: tuple[str, ...]):
    from ingest_api import create_app

    return create_app(settings.with_overrides(cors_origins=origins))


def _preflight(client, path: str, origin: str):
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, x-write-key",
    }
    return client.open(path, method="OPTIONS", headers=headers)


@pytest.mark.parametrize("path", PUBLIC)
def test_preflight_of_an_allowed_origin(settings, path):
    client = _app(settings, ("http://a.test", "http://b.test")).test_client()
    resp = _preflight(client, path, "http://b.test")
    assert resp.status_code == 204
    assert resp.headers["Access-Control-Allow-Origin"] == "http://b.test"
    assert resp.headers["Vary"] == "Origin"
    assert "POST" in resp.headers["Access-Control-Allow-Methods"]
    allowed = {h.strip().lower() for h in resp.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"content-type", "x-write-key", "authorization"} <= allowed
    other = _preflight(client, path, "http://c.test")
    assert "Access-Control-Allow-Origin" not in other.headers


def test_any_origin_and_the_answer_headers(settings):
    client = _app(settings, ("*",)).test_client()
    resp = client.post(
        "/v1/track",
        data=json.dumps(ev(sessionId="cors-any")),
        headers={"Origin": "http://anywhere.test", "Content-Type": "text/plain;charset=UTF-8"},
    )
    assert resp.status_code == 202
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert "Vary" not in resp.headers  # the same answer for every origin
    assert resp.headers["Access-Control-Expose-Headers"] == "Retry-After"
    no_origin = client.post("/v1/track", json=ev(sessionId="cors-none"))  # a server client: nothing added
    assert "Access-Control-Allow-Origin" not in no_origin.headers


@pytest.mark.parametrize("path", ["/v1/admin/stats", "/v1/admin/flush", "/healthz", "/metrics"])
def test_admin_and_operational_endpoints_never_answer_cross_origin(settings, path):
    client = _app(settings, ("*",)).test_client()
    for method in ("OPTIONS", "GET", "POST"):
        resp = client.open(
            path,
            method=method,
            headers={
                "Origin": "http://a.test",
                "Access-Control-Request-Method": "POST",
                "Authorization": "Bearer test-admin-token",
            },
        )
        assert "Access-Control-Allow-Origin" not in resp.headers, (path, method)
        assert resp.status_code != 204


def test_no_layer_at_all_when_cors_is_off(settings):
    """ANALYTICS_CORS_ORIGINS unset: no CORS layer is installed, so requests pay nothing for it."""
    app = _app(settings, ())
    assert not isinstance(app.wsgi_app.wrapped, Cors)
    resp = _preflight(app.test_client(), "/v1/track", "http://a.test")
    assert "Access-Control-Allow-Origin" not in resp.headers
    assert isinstance(_app(settings, ("http://a.test",)).wsgi_app.wrapped, Cors)


def test_settings_read_the_origins():
    from analytics.config import Settings

    env = {"ANALYTICS_CORS_ORIGINS": "http://a.test, https://b.test ,", "ANALYTICS_SESSION_INACTIVITY_MINUTES": "45"}
    s = Settings.from_env(env)
    assert s.cors_origins == ("http://a.test", "https://b.test")
    assert s.session_inactivity_minutes == 45
    assert Settings.from_env({}).cors_origins == ()


def test_origins_are_normalised_as_browsers_send_them(settings):
    """A trailing slash, capitals or a default port in the setting would otherwise never equal an Origin header."""
    from analytics.config import Settings

    env = {"ANALYTICS_CORS_ORIGINS": "https://Shop.Example/, HTTP://a.test:80, https://b.test:8443/app/, *, null"}
    origins = Settings.from_env(env).cors_origins
    assert origins == ("https://shop.example", "http://a.test", "https://b.test:8443", "*", "null")
    assert Settings.from_env({"ANALYTICS_CORS_ORIGINS": "https://x.test/,https://X.test"}).cors_origins == (
        "https://x.test",
    )
    env = {"ANALYTICS_CORS_ORIGINS": "https://Shop.Example/"}
    client = _app(settings, Settings.from_env(env).cors_origins).test_client()
    resp = _preflight(client, "/v1/track/batch", "https://shop.example")
    assert resp.headers["Access-Control-Allow-Origin"] == "https://shop.example"
