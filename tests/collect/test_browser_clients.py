"""Browser clients in real headless Chromium: pages on another origin than the collector send events with Segment's
analytics.js (@segment/analytics-next from npm, package-lock.json) and with the collector's own /v1/tracker.js;
then events_load and events_enrich run, and the rows say what the browser did. Nothing is fetched from a CDN:
every request that leaves 127.0.0.1 is refused and the test fails on it. analytics.js loads chunks at run time
(queryString.bundle when the URL has ajs_ parameters, as the landing URL here does) from its public path, which
is `window.analytics._cdn` + "/analytics-next/bundles/" (else cdn.segment.com): the page sets `_cdn` to its own
origin's /vendor, where the page server serves the whole dist/umd folder."""

from __future__ import annotations

import mimetypes
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.helpers.live_collector import live_collector
from tests.helpers.redis_server import wait_until
from tests.monitor.test_dashboard_browser import browser  # noqa: F401 (the fixture)

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
AJS_DIST = ROOT / "node_modules" / "@segment" / "analytics-next" / "dist" / "umd"
WRITE_KEY = "wk_browser"
REFERRER = "https://news.example/launch-post"
UTM = "utm_source=news&utm_medium=social&utm_campaign=launch"
AJS_AID = "ajs-visitor-0042"  # ?ajs_aid= on analytics.js's landing URL: its queryString chunk sets the anonymous id

# The tracker's pages: a landing page with buttons for an SPA navigation, a tracked click and a click that
# leaves the page right after an event (so only the pagehide beacon can deliver that event).
TRACKER_PAGE = """<!doctype html><html><head><title>{title}</title>
<script async src="{collector}/v1/tracker.js" data-write-key="{key}"></script></head><body>
<button id="spa" onclick="history.pushState({{}}, '', '/tr/app/pricing')">pricing</button>
<button id="back" onclick="history.back()">back</button>
<button id="cta" onclick="tracker.track('cta_clicked', {{ctaId: 'signup', location: 'hero'}})">signup</button>
<a id="leave" href="/tr/next.html" onclick="tracker.track('cta_clicked', {{ctaId: 'leave'}})">next</a>
</body></html>"""

# analytics-next loaded from the package (its UMD build), settings inline: its Segment.io integration posts to
# the collector's Segment prefix; nothing asks a CDN for settings. `_cdn`, set before the script runs, is where
# its chunks come from (<_cdn>/analytics-next/bundles/<chunk>): this origin, not cdn.segment.com.
AJS_PAGE = """<!doctype html><html><head><title>{title}</title>
<script>window.analytics = {{_cdn: "{origin}/vendor"}};</script>
<script src="/vendor/analytics-next/bundles/index.js"></script>
<script>
window.ready = AnalyticsNext.AnalyticsBrowser.load(
  {{writeKey: "{key}", cdnURL: "{collector}/segment",
    cdnSettings: {{integrations: {{"Segment.io": {{apiKey: "{key}", apiHost: "{host}/segment/v1", protocol: "http"}}}}}}}},
  {{disableClientPersistence: false}}
).then(function (loaded) {{ window.analytics = loaded[0]; return window.analytics.page(); }});
</script></head><body>
<button id="cta" onclick="window.sent = analytics.track('CTA Clicked', {{ctaId: 'buy'}})">buy</button>
<a id="next" href="/ajs/pricing.html">pricing</a>
</body></html>"""


@dataclass
class Pages:
    """The pages' origin, and the collector they name (set once it runs, allowing this origin)."""

    origin: str = ""
    collector: str = ""
    served: list[str] = field(default_factory=list)  # the paths this origin was asked for

    def render(self, path: str) -> str | None:
        host = self.collector.removeprefix("http://")
        fill = {"collector": self.collector, "host": host, "key": WRITE_KEY, "origin": self.origin}
        return {
            "/tr/landing.html": lambda: TRACKER_PAGE.format(title="Landing", **fill),
            "/tr/next.html": lambda: TRACKER_PAGE.format(title="Next", **fill),
            "/ajs/landing.html": lambda: AJS_PAGE.format(title="Shop", **fill),
            "/ajs/pricing.html": lambda: AJS_PAGE.format(title="Pricing", **fill),
        }.get(path, lambda: None)()


@contextmanager
def page_server() -> Iterator[Pages]:
    """Another origin (its own port) serving the test pages and analytics-next's dist/umd from node_modules."""
    pages = Pages()

    @Request.application
    def app(request: Request) -> Response:
        pages.served.append(request.path)
        if (html := pages.render(request.path)) is not None:
            return Response(html, mimetype="text/html")
        if request.path.startswith("/vendor/analytics-next/bundles/"):
            file = (AJS_DIST / request.path.removeprefix("/vendor/analytics-next/bundles/")).resolve()
            if file.is_file() and AJS_DIST.resolve() in file.parents:
                return Response(file.read_bytes(), mimetype=mimetypes.guess_type(file.name)[0] or "text/plain")
        return Response("not found", status=404)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    pages.origin = f"http://127.0.0.1:{server.port}"
    try:
        yield pages
    finally:
        server.shutdown()
        thread.join(5)


def later(page) -> None:
    """A person's next step comes a moment later: two views of one page in the same second by the same visitor
    are one double-fired event to the collector's fingerprint, which is right, but not what this test clicks."""
    page.wait_for_timeout(1100)


def _hours(db, ids: list[str]) -> list[datetime]:
    """The hour starts of the intervals the events were received in (the test may straddle an hour)."""
    rows = db.execute(
        "SELECT DISTINCT date_trunc('hour', received_at) FROM analytics.events WHERE id = ANY(%s::uuid[])", (ids,)
    )
    return sorted(r[0] for r in rows)


def _rows(db, ids: list[str]) -> list[dict]:
    cur = db.execute(
        "SELECT e.event_type, e.source, e.actor_type, e.actor_id, e.session_id AS client_session, e.props_json,"
        " e.user_agent, e.occurred_at, a.* FROM analytics.events e JOIN analytics.attribution a ON a.event_id = e.id"
        " WHERE e.id = ANY(%s::uuid[]) ORDER BY e.occurred_at, e.id",
        (ids,),
    )
    return [dict(zip([c.name for c in cur.description], r, strict=True)) for r in cur.fetchall()]


def test_analytics_js_and_the_tracker_from_another_origin(browser, settings, redis_client, dagbag, db):  # noqa: F811
    if not (AJS_DIST / "index.js").is_file():
        pytest.fail("node_modules missing: scripts/test.sh runs npm ci (package-lock.json)")
    outside: list[str] = []
    with (
        page_server() as pages,
        live_collector(
            settings.with_overrides(write_keys=(WRITE_KEY,), cors_origins=("http://elsewhere.test", pages.origin))
        ) as (collector, gate),
    ):
        pages.collector, origin = collector, pages.origin
        context = browser.new_context()
        context.route(
            "**/*",
            lambda route: (
                route.continue_()
                if route.request.url.startswith("http://127.0.0.1:")
                else (outside.append(route.request.url), route.abort())
            ),
        )
        page = context.new_page()
        user_agent = page.evaluate("navigator.userAgent")

        # The first-party tracker: landing with UTM and a referrer, an SPA navigation and back, a click, then a
        # click that leaves the page at once (delivered by the pagehide beacon), and the next page's view.
        page.goto(f"{origin}/tr/landing.html?{UTM}", referer=REFERRER)
        page.wait_for_function("window.tracker && window.tracker.loaded")
        later(page)
        page.click("#spa")
        page.click("#cta")
        later(page)
        page.click("#back")
        page.wait_for_function("location.pathname === '/tr/landing.html'")
        later(page)
        page.click("#leave")
        page.wait_for_url(f"{origin}/tr/next.html")
        page.wait_for_function("window.tracker && window.tracker.loaded")
        page.evaluate("tracker.flush()")

        # analytics.js: landing page with UTM and an anonymous id in ajs_aid, a tracked click, then the next page.
        page.goto(f"{origin}/ajs/landing.html?{UTM}&ajs_aid={AJS_AID}", referer=REFERRER)
        page.evaluate("window.ready")
        page.click("#cta")
        delivery = page.evaluate("window.sent.then(ctx => JSON.stringify(ctx.logs().map(l => l.message)))")
        wait_until(lambda: "/segment/v1/t" in [r["path"] for r in gate.requests], f"the track call: {delivery}", 10)
        later(page)
        page.click("#next")
        page.wait_for_url(f"{origin}/ajs/pricing.html")
        page.evaluate("window.ready")
        context.close()

        wait_until(lambda: redis_client.xlen(settings.stream_key) >= 9, "the browser's 9 events in the stream", 20)
        paths = [r["path"] for r in gate.requests]
        beacons = [r for r in gate.requests if r["path"] == "/v1/track/batch" and r["body"]]
    assert outside == []  # nothing from a CDN or anywhere else
    chunks = [p for p in pages.served if p.startswith("/vendor/analytics-next/bundles/queryString.bundle.")]
    assert chunks, pages.served  # the ajs_ chunk came from the page's origin
    assert "/v1/tracker.js" in paths and "/segment/v1/p" in paths and "/segment/v1/t" in paths
    leave = [b for b in beacons if any(e["props"].get("ctaId") == "leave" for e in b["body"]["events"])]
    # Sent by navigator.sendBeacon on pagehide (a beacon is a no-cors request; the tracker's fetch is a cors one).
    assert [b["headers"].get("Sec-Fetch-Mode") for b in leave] == ["no-cors"], [b["headers"] for b in leave]
    assert {b["headers"].get("Sec-Fetch-Mode") for b in beacons if b not in leave} == {"cors"}

    ids = [r[1][b"id"].decode() for r in redis_client.xrange(settings.stream_key)]
    try:
        _load_enrich_and_check(dagbag, db, ids, origin, user_agent)
    finally:
        _cleanup(db, ids)


def _cleanup(db, ids: list[str]) -> None:
    """The test's events and what enrichment derived from them."""
    db.execute(
        "DELETE FROM analytics.sessions WHERE session_id IN (SELECT session_id FROM analytics.event_context"
        " WHERE event_id = ANY(%s::uuid[]))",
        (ids,),
    )
    db.execute("DELETE FROM analytics.event_context WHERE event_id = ANY(%s::uuid[])", (ids,))
    db.execute("DELETE FROM analytics.events WHERE id = ANY(%s::uuid[])", (ids,))


def _load_enrich_and_check(dagbag, db, ids: list[str], origin: str, user_agent: str) -> None:
    assert dagbag.get_dag("events_load").test().state == "success"
    enrich = dagbag.get_dag("events_enrich")
    for start in _hours(db, ids):
        # The hour is not over, so the loader's watermark cannot have passed its end yet: the sensor is marked done.
        run = enrich.test(logical_date=start + timedelta(hours=1), mark_success_pattern="wait_for_loader")
        assert run.state == "success"
    rows = _rows(db, ids)
    loaded = db.execute("SELECT count(*) FROM analytics.events WHERE id = ANY(%s::uuid[])", (ids,)).fetchone()[0]
    assert (len(rows), loaded) == (len(ids), len(ids))
    tracker = [r for r in rows if r["client_session"]]
    ajs = [r for r in rows if not r["client_session"]]

    assert [(r["event_type"], r["props_json"].get("path") or r["props_json"].get("ctaId")) for r in tracker] == [
        ("page_viewed", "/tr/landing.html"),
        ("page_viewed", "/tr/app/pricing"),
        ("cta_clicked", "signup"),
        ("page_viewed", "/tr/landing.html"),
        ("cta_clicked", "leave"),  # sent on page unload
        ("page_viewed", "/tr/next.html"),
    ]
    assert [(r["event_type"], r["props_json"].get("path") or r["props_json"].get("ctaId")) for r in ajs] == [
        ("page_viewed", "/ajs/landing.html"),
        ("cta_clicked", "buy"),
        ("page_viewed", "/ajs/pricing.html"),
    ]
    assert {(r["actor_type"], r["actor_id"]) for r in ajs} == {("anonymous", AJS_AID)}  # from ?ajs_aid=
    for group, source in ((tracker, "web"), (ajs, "segment")):
        assert {r["source"] for r in group} == {source}
        assert {(r["actor_type"], r["actor_id"]) for r in group} == {("anonymous", group[0]["actor_id"])}
        assert {r["user_agent"] for r in group} == {user_agent}  # Chromium's own
        assert {r["browser_name"] for r in group} == {"Headless Chrome"}  # as ua-parser names HeadlessChrome/NNN
        assert {r["os_name"] for r in group} == {"Linux"}
        assert len({r["session_id"] for r in group}) == 1  # one session each
        first = group[0]
        assert {r["session_started_at"] for r in group} == {first["occurred_at"]}
        assert {(r["utm_source"], r["utm_medium"], r["utm_campaign"]) for r in group} == {("news", "social", "launch")}
        assert {r["referrer"] for r in group} == {REFERRER}
        landing = f"/tr/landing.html?{UTM}" if source == "web" else f"/ajs/landing.html?{UTM}&ajs_aid={AJS_AID}"
        assert {r["landing_page"] for r in group} == {f"{origin}{landing}"}
    assert ajs[0]["session_id"].startswith("d-")  # derived by enrichment: analytics.js sends no session id
    assert tracker[0]["session_id"] == tracker[0]["client_session"]
