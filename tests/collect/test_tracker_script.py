"""GET /v1/tracker.js serves the first-party tracker; its behaviour in a browser: tests/collect/test_browser_clients.py
and tests/collect/test_tracker_browser.py."""

from __future__ import annotations

import shutil
import subprocess

from ingest_api.tracker import SCRIPT


def test_served_small_cacheable_and_revalidated(client):
    resp = client.get("/v1/tracker.js")
    assert resp.status_code == 200
    assert resp.mimetype == "text/javascript"
    assert resp.get_data() == SCRIPT.read_bytes()
    assert len(resp.get_data()) < 12_000  # a few KB, no dependencies
    assert resp.headers["Cache-Control"] == "public, max-age=300"
    again = client.get("/v1/tracker.js", headers={"If-None-Match": resp.headers["ETag"]})
    assert again.status_code == 304


def test_readable_cross_origin_for_subresource_integrity(client):
    """<script crossorigin integrity=...> fetches in CORS mode: without Access-Control-Allow-Origin it fails."""
    resp = client.get("/v1/tracker.js", headers={"Origin": "https://shop.example"})
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in resp.headers


def test_script_parses():
    node = shutil.which("node")
    assert node, "node is needed for the browser tests (scripts/env.sh installs the npm packages with it)"
    subprocess.run([node, "--check", str(SCRIPT)], check=True)
