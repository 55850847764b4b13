"""GET /v1/tracker.js: the first-party browser tracker (ingest_api/static/tracker.js, docs/CLIENT.md)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, send_file

bp = Blueprint("tracker", __name__, url_prefix="/v1")

SCRIPT = Path(__file__).parent / "static" / "tracker.js"


@bp.get("/tracker.js")
def tracker() -> Response:
    # Revalidated by ETag after 5 minutes so a new version spreads. A plain <script> tag needs no CORS, but one with
    # `crossorigin` (Subresource Integrity) does: the script is public, so any origin may read it.
    response = send_file(SCRIPT, mimetype="text/javascript", conditional=True, etag=True, max_age=300)
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
