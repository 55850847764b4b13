"""The dashboard in real headless Chromium: log in to a real Airflow api-server, open the page, read the seeded numbers."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from analytics.collect.keys import Keys, stat_field, stats_bucket
from tests.helpers.dashboard_seed import cleanup, seed_dashboard

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
USER, PASSWORD = "analyst", "dashboard-test-pass"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def api_server(settings, airflow_db, tmp_path):
    """`airflow api-server` with this test's analytics settings and SimpleAuthManager's known user."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps({USER: PASSWORD}))
    env = os.environ.copy() | {
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API_AUTH__JWT_SECRET": "dashboard-browser-test-" + "x" * 48,
        "AIRFLOW__API__BASE_URL": base,
    }
    log_path = tmp_path / "api-server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "airflow", "api-server", "--host", "127.0.0.1", "--port", str(port), "-w", "1"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"api-server exited {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{base}/api/v2/monitor/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"api-server not up after 60 s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} missing: run scripts/ensure_chromium.sh")
    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()


def test_dashboard_in_airflow_ui_shows_seeded_numbers_live(api_server, browser, db, redis_client, settings):
    from playwright.sync_api import expect

    from analytics.monitor.dashboard import overview

    seeded = seed_dashboard(db, redis_client, settings)
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1700})
        page.goto(f"{api_server}/")
        page.wait_for_url(re.compile(r"/auth/login"))
        page.locator("input[name=username]").fill(USER)
        page.locator("input[name=password]").fill(PASSWORD)
        page.locator("button[type=submit]").click()
        # The nav entry the plugin registers: Browse → Analytics pipeline.
        page.get_by_role("button", name="Browse").click()
        page.get_by_role("menuitem", name="Analytics pipeline").click()
        page.wait_for_url(re.compile(r"/plugin/analytics-pipeline"))

        frame = page.frame_locator("iframe")
        fig = lambda name: frame.locator(f'[data-figure="{name}"]')  # noqa: E731
        expect(fig("accepted").locator(".value")).to_have_text("70", timeout=20_000)
        expect(fig("duplicates").locator(".value")).to_have_text("10")
        expect(fig("rejected").locator(".value")).to_have_text("3")
        expect(fig("rejected").locator(".sub")).to_contain_text("4.11 %")  # 3 of 73 in the monitor's 15 min
        expect(fig("duplicates").locator(".sub")).to_have_text("fingerprint 9, idempotency_key 1")
        expect(fig("dedup-rate").locator(".value")).to_have_text("14.3 %")
        expect(fig("dedup-rate")).to_have_class(re.compile(r"\balert\b"))
        expect(fig("stream-length").locator(".value")).to_have_text("7")
        expect(fig("lag").locator(".value")).to_have_text("5")
        expect(fig("oldest-pending").locator(".value")).to_have_text(re.compile(r"^[23] min$"))
        expect(fig("oldest-pending").locator(".sub")).to_contain_text("2 pending")
        expect(fig("last-load").locator(".sub")).to_contain_text("1,234 rows in 850 ms")
        expect(fig("counts").locator(".value")).to_have_text("3 missing")
        expect(fig("counts").locator(".sub")).to_contain_text("1 hour short · hours before ")
        expect(fig("counts")).to_have_class(re.compile(r"\balert\b"))
        # The test's Redis as it is (the shared one keeps nothing on disk): the figure says what INFO says.
        from analytics.redis_client import durability_of

        held = durability_of(redis_client, settings.stream_key)
        expect(fig("redis").locator(".value")).to_have_text("durable" if held["durable"] else "not durable")
        expect(fig("redis").locator(".sub")).to_have_text(
            f"{held['server']}: AOF {'on' if held['aof'] else 'off'}, maxmemory-policy {held['maxmemoryPolicy']}"
        )
        if not held["durable"]:
            expect(fig("redis")).to_have_class(re.compile(r"\balert\b"))

        chart = frame.locator("#chart")
        for series, total in (("accepted", 70), ("duplicate", 10), ("rejected", 3)):
            expect(chart.locator(f'polyline[data-series="{series}"]')).to_have_attribute("data-total", str(total))
        expect(frame.locator(f'#backlog rect[data-hour="{seeded.backlog_hour}"]')).to_have_attribute(
            "data-waiting", str(seeded.backlog_waiting)
        )
        expect(frame.locator('#nightly dd[data-field="Scanned"]')).to_have_text("48,000")
        expect(frame.locator('#nightly dd[data-field="Marked duplicate"]')).to_have_text("1,200")
        expect(frame.locator('#nightly dd[data-field="Rate"]')).to_have_text("2.50 %")
        expect(frame.locator('#nightly dd[data-field="Window"]')).to_have_text(
            "the 24.0 h before the data interval's end (scheduled run)"
        )

        resolved_id, firing_id = seeded.ids["alerts"]
        firing = frame.locator(f'#alerts tr[data-alert-id="{firing_id}"]')
        expect(firing).to_have_attribute("data-state", "firing")
        expect(firing).to_contain_text(seeded.firing_alert_title)
        expect(firing.locator("a")).to_have_attribute("href", re.compile(r"^/dags/events_monitor/runs/.+/tasks/check$"))
        resolved = frame.locator(f'#alerts tr[data-alert-id="{resolved_id}"]')
        expect(resolved.locator(".badge")).to_have_text("resolved")
        expect(resolved.locator("a")).to_have_attribute("href", seeded.resolved_alert_log_url)

        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

        # Live: new counts appear on the next poll, without a reload.
        page.goto(f"{api_server}/analytics-dashboard/?refresh=2")
        expect(page.locator('[data-figure="accepted"] .value')).to_have_text("70", timeout=10_000)
        keys = Keys(settings.key_prefix, settings.stream_key)
        redis_client.hincrby(keys.stats(stats_bucket()), stat_field("accepted", "", "web", "asset_viewed"), 5)
        expect(page.locator('[data-figure="accepted"] .value')).to_have_text("75", timeout=15_000)

        # The Airflow UI's dark mode (its "theme" in localStorage) carries over.
        page.evaluate("localStorage.setItem('theme', 'dark')")
        page.reload()
        expect(page.locator('[data-figure="accepted"] .value')).to_have_text("75", timeout=10_000)
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(21, 25, 30)"
        page.screenshot(path=str(ARTIFACTS / "dashboard-dark.png"), full_page=True)

        # Stores down: each section says which one, the rest of the page stays.
        dead = _free_port()
        down = overview(
            settings.with_overrides(
                redis_url=f"redis://127.0.0.1:{dead}/0", database_url=f"postgresql://postgres@127.0.0.1:{dead}/x"
            )
        )
        page.route("**/api/overview*", lambda route: route.fulfill(json=down))
        expect(page.locator('[data-figure="accepted"] .value')).to_have_text("Redis unreachable", timeout=10_000)
        expect(page.locator('[data-figure="lag"] .value')).to_have_text("Redis unreachable")
        expect(page.locator("#collector .state")).to_contain_text("Redis unreachable")
        expect(page.locator("#loads .state")).to_contain_text("PostgreSQL unreachable")
        expect(page.locator("#alerts .state")).to_contain_text("PostgreSQL unreachable")
        expect(page.locator("#firing-count")).to_be_hidden()
        expect(page.locator("#alerts tbody tr")).to_have_count(0)
        page.screenshot(path=str(ARTIFACTS / "dashboard-stores-down.png"), full_page=True)

        # The dashboard API itself failing: the last figures stay, marked stale.
        page.unroute("**/api/overview*")
        page.route("**/api/overview*", lambda route: route.fulfill(status=502, body="bad gateway"))
        expect(page.locator("#status")).to_contain_text(
            "Refresh failed: Dashboard API answered HTTP 502", timeout=10_000
        )
        expect(page.locator("#status")).to_have_class(re.compile(r"\bstale\b"))
        page.unroute("**/api/overview*")

        # Which stores it reads: no connections defined here, so the environment's, flagged as a fallback.
        expect(page.locator('#stores [data-store="postgres"]')).to_have_attribute("data-source", "DATABASE_URL")
        expect(page.locator('#stores [data-store="redis"]')).to_have_class("fallback")
        expect(page.locator("#stores")).to_contain_text("(connection not defined)")

        # The session expires (its JWT no longer validates): the next poll sends the browser to Airflow's login,
        # and logging in brings it back to the dashboard.
        token = next(c for c in page.context.cookies() if c["name"] == "_token")
        page.context.add_cookies([token | {"value": token["value"][:-6] + "AAAAAA"}])
        page.wait_for_url(re.compile(r"/auth/login"), timeout=15_000)
        assert "analytics-dashboard" in page.url  # `next` points back at the page
        page.locator("input[name=username]").fill(USER)
        page.locator("input[name=password]").fill(PASSWORD)
        page.locator("button[type=submit]").click()
        page.wait_for_url(re.compile(r"/analytics-dashboard/\?refresh=2$"), timeout=15_000)
        expect(page.locator('[data-figure="accepted"] .value')).to_have_text("75", timeout=10_000)
    finally:
        cleanup(db, seeded)
