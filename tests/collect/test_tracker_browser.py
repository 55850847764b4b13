"""The first-party tracker (/v1/tracker.js) in real headless Chromium against the real collector over HTTP.

One collector (behind tests.helpers.live_collector's Gate, with the CORS layer around the gate so a page reads the
gate's injected answers as it reads the collector's), one page origin and one browser for the module; every test
gets a fresh browser context. Each tracker page loads the script with `crossorigin` + `integrity` (SRI), which
only works when /v1/tracker.js carries Access-Control-Allow-Origin. Tests read what the tracker sent (the gate's
records, the collector's answers) and its console warnings; timers are driven by Playwright's fake clock where a
test is about waiting (retries), never by wall time."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from ingest_api.tracker import SCRIPT
from tests.conftest import private_env
from tests.helpers.live_collector import Gate, live_collector
from tests.helpers.redis_server import wait_until
from tests.monitor.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser

WRITE_KEY = "wk_tracker_browser"
REFERRER = "https://news.example/launch-post"
# Per first path segment: the tracker's data- attributes (None: a page without the tracker).
MODES = {
    "site": "",
    "nobeacon": "",  # sendBeacon refuses everything there (an init script of the outbox test)
    "manual": ' data-auto-page="false"',
    "hash": ' data-hash-routing="true"',
    "wrongkey": "",
    "plain": None,
}
PAGE = """<!doctype html><html><head><title>Page</title>{tag}</head><body>
<a id="details-link" href="#details">details</a> <a id="to-site" href="/site/next">next</a>
<a id="to-plain" href="/plain/next">elsewhere</a><p id="details">details</p></body></html>"""
TAG = '<script async src="{collector}/v1/tracker.js" data-write-key="{key}" crossorigin="anonymous" integrity="{sri}"{attrs}></script>'
# cta_clicked props of ~7 KB (four extra strings, each under the schema's 2048 characters).
BIG_PROPS = "{ctaId: id, a: 'a'.repeat(1750), b: 'b'.repeat(1750), c: 'c'.repeat(1750), d: 'd'.repeat(1750)}"


@dataclass
class Site:
    origin: str = ""
    collector: str = ""
    gate: Gate | None = None

    def render(self, path: str) -> str | None:
        mode = path.strip("/").split("/")[0]
        if mode not in MODES:
            return None
        tag = ""
        if MODES[mode] is not None:
            sri = "sha384-" + base64.b64encode(hashlib.sha384(SCRIPT.read_bytes()).digest()).decode()
            key = "wk_wrong" if mode == "wrongkey" else WRITE_KEY
            tag = TAG.format(collector=self.collector, key=key, sri=sri, attrs=MODES[mode])
        return PAGE.format(tag=tag)


@contextmanager
def page_server(site: Site) -> Iterator[None]:
    @Request.application
    def app(request: Request) -> Response:
        html = site.render(request.path)
        return Response("not found", status=404) if html is None else Response(html, mimetype="text/html")

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    site.origin = f"http://127.0.0.1:{server.port}"
    try:
        yield
    finally:
        server.shutdown()
        thread.join(5)


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} missing: run scripts/ensure_chromium.sh")
    with sync_playwright() as pw:
        # Playwright turns the back/forward cache off by default; a restored page is one of the cases here.
        instance = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            ignore_default_args=["--disable-back-forward-cache"],
        )
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def site(database_url, redis_client_module) -> Iterator[Site]:
    """The module's page origin and collector (its own Redis keys, deleted after)."""
    from analytics.config import Settings

    prefix, env = private_env(database_url)
    env["ANALYTICS_WRITE_KEYS"] = WRITE_KEY
    site = Site()
    with page_server(site):
        settings = Settings.from_env(env).with_overrides(cors_origins=(site.origin,))
        with live_collector(settings, cors_outside_gate=True) as (collector, gate):
            site.collector, site.gate = collector, gate
            yield site
    keys = list(redis_client_module.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        redis_client_module.delete(*keys)


@pytest.fixture
def gate(site) -> Iterator[Gate]:
    """The module's gate, cleared for this test and put back after."""
    gate = site.gate
    assert gate is not None

    def reset() -> None:
        if gate.hold is not None:
            gate.hold.set()
        with gate.lock:
            gate.requests.clear()
            gate.fail_next = gate.lose_next = 0
            gate.status_once = gate.retry_after = gate.hold = None

    reset()
    yield gate
    reset()


@pytest.fixture
def context(chromium):
    context = chromium.new_context()
    yield context
    context.close()


def open_page(context, site: Site, path: str, **goto):
    """A page at `path` once the tracker runs; its console warnings from the tracker collect in page.warnings."""
    page = context.new_page()
    page.warnings = []
    page.on("console", lambda m: m.type == "warning" and m.text.startswith("tracker:") and page.warnings.append(m.text))
    page.goto(site.origin + path, **goto)
    if MODES[path.strip("/").split("/")[0]] is not None:
        wait_until(lambda: page.evaluate("!!(window.tracker && window.tracker.loaded)"), "the tracker to load", 10)
    return page


def batches(gate: Gate) -> list[dict]:
    with gate.lock:
        return [r for r in gate.requests if r["path"] == "/v1/track/batch" and r["body"]]


def sent(gate: Gate) -> list[dict]:
    """Every event sent, each once (a repeat carries the same idempotency key), in order of first arrival."""
    out: dict[str, dict] = {}
    for r in batches(gate):
        for e in r["body"]["events"]:
            out.setdefault(e["idempotencyKey"], e)
    return list(out.values())


def views(gate: Gate) -> list[str]:
    return [e["props"]["path"] for e in sent(gate) if e["eventType"] == "page_viewed"]


def answers(gate: Gate) -> dict[str, list[str]]:
    """idempotency key -> the collector's per-event statuses, over every request that carried it."""
    out: dict[str, list[str]] = {}
    for r in batches(gate):
        for e, res in zip(r["body"]["events"], (r.get("answer") or {}).get("results", []), strict=False):
            out.setdefault(e["idempotencyKey"], []).append(res["status"])
    return out


def cta(events: list[dict]) -> list[str]:
    return [e["props"]["ctaId"] for e in events if e["eventType"] == "cta_clicked"]


class FakeTime:
    """The page's clock, paused, moved by hand: a test about waiting reads fake milliseconds, never wall time."""

    STEP = 250

    def __init__(self, page):
        self.page, self.now = page, 0

    def run(self, ms: int) -> None:
        self.page.clock.run_for(ms)
        self.now += ms

    def until(self, condition, what: str, limit: int = 120_000) -> int:
        """Move on in steps until `condition()` holds; the fake time then (at most one step after it happened)."""
        start = self.now
        while not condition():
            if self.now - start > limit:
                raise AssertionError(f"no {what} within {limit} fake ms")
            self.run(self.STEP)
            self.page.wait_for_timeout(20)  # lets the network and the page's promises move (real time, not asserted)
        return self.now


def paused_page(context, site: Site, path: str):
    """A page whose timers run only when the test moves its clock."""
    context.clock.install()
    context.clock.pause_at(datetime.now(UTC) + timedelta(seconds=1))
    page = open_page(context, site, path)
    return page, FakeTime(page)


# --- 1. data-auto-page="false" -----------------------------------------------------------------------------------


def test_auto_page_off_records_only_the_views_the_page_records(site, gate, context):
    """An SPA that calls tracker.page() itself gets each route once: no view on load, no History API hooks."""
    page = open_page(context, site, "/manual/app")
    page.evaluate("addEventListener('popstate', function () { tracker.page(); })")  # the router's own
    page.evaluate("history.pushState({}, '', '/manual/app/a'); tracker.page()")
    page.evaluate("history.replaceState({}, '', '/manual/app/b'); tracker.page()")
    page.evaluate("history.back()")
    wait_until(lambda: page.evaluate("location.pathname") == "/manual/app", "back to /manual/app", 10)
    page.evaluate("tracker.flush()")
    assert views(gate) == ["/manual/app/a", "/manual/app/b", "/manual/app"]


# --- 2. values cut to the schema's limits --------------------------------------------------------------------------


def test_values_over_the_schemas_limits_are_cut_and_accepted(site, gate, context):
    """A long landing URL, referrer, UTM tag, path or title is cut (never half a UTF-16 pair): events accepted."""
    landing = f"/site/long?utm_source={'s' * 300}&utm_campaign=launch&q={'x' * 3000}"
    referrer = f"https://news.example/{'r' * 3000}"
    page = open_page(context, site, landing, referer=referrer)
    assert page.evaluate("document.referrer") == referrer  # the case is exercised
    title = "t" * 511 + "\U0001f600" * 5  # 521 UTF-16 units; a cut at 512 would split the first emoji
    long_path = "/site/long/" + "p" * 2100
    page.evaluate(f"history.pushState({{}}, '', {json.dumps(long_path)}); document.title = {json.dumps(title)}")
    page.evaluate("tracker.flush()")

    first, second = sent(gate)
    href = site.origin + landing
    attribution = first["attribution"]
    assert attribution["landingPage"] == href[:2048]
    assert attribution["referrer"] == referrer[:2048]
    assert (attribution["utmSource"], attribution["utmCampaign"]) == ("s" * 256, "launch")
    assert (first["props"]["path"], first["props"]["url"]) == ("/site/long", href[:2048])
    assert second["props"]["path"] == long_path[:2048]
    assert second["props"]["url"] == (site.origin + long_path)[:2048]
    assert second["props"]["title"] == "t" * 511
    assert answers(gate) == {e["idempotencyKey"]: ["accepted"] for e in (first, second)}
    assert page.warnings == []


# --- 3. storage that reads but cannot be written --------------------------------------------------------------------


def test_storage_that_refuses_writes_keeps_one_visitor_and_session(site, gate, context):
    """setItem throws (quota full, Safari private mode): one anonymous id (the one stored before), one session."""
    context.add_init_script(
        """localStorage.setItem('ap_anon', JSON.stringify('anon-stored-before'));  // an earlier visit's
        Storage.prototype.setItem = function () { throw new DOMException('full', 'QuotaExceededError'); };"""
    )
    page = open_page(context, site, "/site/full")
    page.evaluate("tracker.track('cta_clicked', {ctaId: 'one'}); tracker.track('cta_clicked', {ctaId: 'two'})")
    page.evaluate("history.pushState({}, '', '/site/full/next')")
    page.evaluate("tracker.identify('usr_001'); tracker.track('cta_clicked', {ctaId: 'signed-in'}); tracker.flush()")

    events = sent(gate)
    assert [e["eventType"] for e in events] == [
        "page_viewed",
        "cta_clicked",
        "cta_clicked",
        "page_viewed",
        "cta_clicked",
    ]
    assert {(e["actorType"], e["actorId"]) for e in events[:4]} == {("anonymous", "anon-stored-before")}
    assert (events[4]["actorType"], events[4]["actorId"]) == ("user", "usr_001")
    assert len({e["sessionId"] for e in events}) == 1
    assert page.evaluate("localStorage.getItem('ap_session')") is None  # nothing could be written indeed


# --- 4. batches bounded by size --------------------------------------------------------------------------------------


def test_batches_stay_under_the_keepalive_quota_on_sends_and_on_pagehide(site, gate, context):
    """10 events of ~7 KB: split into bodies of at most 60 000 bytes (Chrome refuses keepalive or beacon bodies
    over 64 KiB in flight), all delivered, while the page lives and when it leaves right after them."""
    page = open_page(context, site, "/site/big")
    page.evaluate(
        f"for (var i = 0; i < 10; i++) {{ var id = 'live-' + i; tracker.track('cta_clicked', {BIG_PROPS}); }}"
    )
    wait_until(lambda: len(cta(sent(gate))) == 10, "the 10 big events", 15)
    page.evaluate("tracker.flush()")
    live = batches(gate)
    assert all(len(r["raw"]) <= 60_000 for r in live), [len(r["raw"]) for r in live]
    assert sum(1 for r in live if cta(r["body"]["events"])) >= 2

    page.evaluate(
        f"for (var i = 0; i < 10; i++) {{ var id = 'gone-' + i; tracker.track('cta_clicked', {BIG_PROPS}); }}"
    )
    page.click("#to-site")  # leaves at once; what beacons cannot take is sent by the next page (the outbox)
    wait_until(lambda: page.evaluate("!!(window.tracker && window.tracker.loaded)"), "the next page", 10)
    page.evaluate("tracker.flush()")
    wait_until(lambda: len([c for c in cta(sent(gate)) if c.startswith("gone-")]) == 10, "the 10 events of exit", 15)
    assert all(len(r["raw"]) <= 60_000 for r in batches(gate)), [len(r["raw"]) for r in batches(gate)]
    delivered = answers(gate)
    assert all("accepted" in delivered[e["idempotencyKey"]] for e in sent(gate) if e["eventType"] == "cta_clicked")


# --- 5. retries, drops and warnings ----------------------------------------------------------------------------------


def test_retries_back_off_keep_order_and_honour_retry_after(site, gate, context):
    """503s: retried after 1, 2, 4 s (fake time), the same events first, a later one behind them; then a 503 with
    Retry-After: 30 waits 30 s, where the backoff (reset by the success) would have waited 1 s."""
    page, clock = paused_page(context, site, "/site/retry")
    gate.fail_next = 3  # the script is loaded; its requests fail (the clock has not let the first batch go)
    page.evaluate("tracker.track('cta_clicked', {ctaId: 'first'})")
    times = [clock.until(lambda k=k: len(batches(gate)) >= k, f"attempt {k}") for k in (1, 2)]
    page.evaluate("tracker.track('cta_clicked', {ctaId: 'during'})")
    times += [clock.until(lambda k=k: len(batches(gate)) >= k, f"attempt {k}") for k in (3, 4)]

    attempts = batches(gate)
    assert [r.get("status") for r in attempts] == [None, None, None, 200]  # 3 injected 503s, then the collector
    keys = [[e["idempotencyKey"] for e in r["body"]["events"]] for r in attempts]
    assert keys[0] == keys[1] and keys[2] == keys[3] and keys[2][:2] == keys[0]
    assert [e["eventType"] for e in attempts[3]["body"]["events"]] == ["page_viewed", "cta_clicked", "cta_clicked"]
    assert cta(attempts[3]["body"]["events"]) == ["first", "during"]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert all(gap >= wait - FakeTime.STEP for gap, wait in zip(gaps, (1000, 2000, 4000), strict=True)), gaps

    gate.fail_next, gate.retry_after = 1, "30"
    page.evaluate("tracker.track('cta_clicked', {ctaId: 'later'}); tracker.flush()")  # resolves on the 503
    refused_at = clock.now
    page.evaluate("tracker.track('cta_clicked', {ctaId: 'after'})")
    retried_at = clock.until(lambda: len(batches(gate)) >= 6, "the retry after Retry-After")
    assert retried_at - refused_at >= 30_000
    assert cta(batches(gate)[5]["body"]["events"]) == ["later", "after"]
    assert batches(gate)[5].get("status") == 200
    assert page.warnings == []


def test_unreachable_collector_warns_once_and_delivers_when_back(site, gate, context):
    """Network errors (here: connection refused) are retried; the second in a row warns, once."""
    refused: list[str] = []

    def network(route):
        if route.request.method == "POST" and len(refused) < 4:
            refused.append(route.request.url)
            return route.abort("connectionrefused")
        return route.continue_()

    context.route(f"{site.collector}/v1/track/batch", network)
    page, clock = paused_page(context, site, "/site/offline")
    page.evaluate("tracker.track('cta_clicked', {ctaId: 'offline'})")
    clock.until(lambda: len(batches(gate)) >= 1, "delivery once the network is back")
    assert len(refused) == 4
    assert cta(sent(gate)) == ["offline"]
    assert len(page.warnings) == 1, page.warnings
    assert "unreachable" in page.warnings[0] and "ANALYTICS_CORS_ORIGINS" in page.warnings[0]


def test_answers_413_halves_4xx_drop_and_rejections_warn(site, gate, context):
    """413: the halves go again. 400: dropped (never resent) with a warning naming status and message. A 200's
    rejected events: one warning per distinct problem, at most 100 warnings a page. 401 (wrong key): dropped."""
    page = open_page(context, site, "/site/answers")
    page.evaluate("tracker.flush()")

    gate.status_once = 400
    page.evaluate("tracker.track('cta_clicked', {ctaId: 'refused'}); tracker.flush()")
    page.evaluate("tracker.track('cta_clicked', {ctaId: 'next'}); tracker.flush()")
    assert [cta(r["body"]["events"]) for r in batches(gate)[-2:]] == [["refused"], ["next"]]
    assert len(page.warnings) == 1 and "400" in page.warnings[0] and "injected" in page.warnings[0]

    page.evaluate(
        """for (var i = 0; i < 3; i++) tracker.track('cta_clicked', {});  // one problem, three times
        tracker.track('cta_clicked', {ctaId: 'x'.repeat(200)}); tracker.flush()"""
    )
    rejected = page.warnings[1:]
    assert len(rejected) == 2, rejected
    assert "props.ctaId Field required" in rejected[0] and "at most 128 characters" in rejected[1]

    gate.status_once = 413
    page.evaluate("for (var i = 0; i < 4; i++) tracker.track('cta_clicked', {ctaId: 'split-' + i}); tracker.flush()")
    split = batches(gate)[-3:]
    assert [cta(r["body"]["events"]) for r in split] == [
        [f"split-{i}" for i in range(4)],
        ["split-0", "split-1"],
        ["split-2", "split-3"],
    ]
    assert [r.get("status") for r in split] == [None, 200, 200]
    assert len(page.warnings) == 3

    bounded = open_page(context, site, "/site/bounded")
    bounded.evaluate("for (var i = 0; i < 150; i++) tracker.track('unknown_' + i, {}); tracker.flush()")
    assert len(bounded.warnings) == 100
    assert all("unknown event type" in w for w in bounded.warnings)

    wrong = open_page(context, site, "/wrongkey/app")
    wrong.evaluate("tracker.flush()")
    wrong.evaluate("tracker.track('cta_clicked', {ctaId: 'unauthorised'}); tracker.flush()")
    last = batches(gate)[-2:]
    assert [[e["eventType"] for e in r["body"]["events"]] for r in last] == [["page_viewed"], ["cta_clicked"]]
    assert [r.get("status") for r in last] == [401, 401]
    assert len(wrong.warnings) == 2 and all("401 (unknown write key)" in w for w in wrong.warnings)


# --- 6. nothing lost at page exit -------------------------------------------------------------------------------------


def test_unacknowledged_events_go_by_beacon_at_pagehide(site, gate, context):
    """An event whose request is still unanswered when the page goes goes again by beacon, with the queued one;
    the collector stores it once (the repeat is a duplicate)."""
    page = open_page(context, site, "/site/inflight")
    page.evaluate("tracker.flush()")
    gate.entered.clear()
    gate.hold = threading.Event()
    page.evaluate("tracker.track('cta_clicked', {ctaId: 'in-flight'}); void tracker.flush()")
    assert gate.entered.wait(10)
    page.evaluate("tracker.track('cta_clicked', {ctaId: 'queued'})")
    page.click("#to-plain")
    wait_until(lambda: any(r["headers"].get("Sec-Fetch-Mode") == "no-cors" for r in batches(gate)), "the beacon", 10)
    gate.hold.set()
    wait_until(lambda: all("status" in r for r in batches(gate)), "the answers", 10)

    held, beacon = batches(gate)[-2:]
    assert cta(held["body"]["events"]) == ["in-flight"] and held["headers"].get("Sec-Fetch-Mode") == "cors"
    assert cta(beacon["body"]["events"]) == ["in-flight", "queued"]
    key = held["body"]["events"][0]["idempotencyKey"]
    assert beacon["body"]["events"][0]["idempotencyKey"] == key
    assert sorted(answers(gate)[key]) == ["accepted", "duplicate"]


def test_what_beacons_refuse_waits_in_the_outbox_for_the_next_page(site, gate, context):
    """sendBeacon refuses: the last 500 events wait in localStorage and the site's next page sends them, with
    their idempotency keys and occurredAt, and a sentAt of that send."""
    context.add_init_script(
        "if (location.pathname.indexOf('/nobeacon/') === 0) navigator.sendBeacon = function () { return false; };"
    )
    page = open_page(context, site, "/nobeacon/one")
    page.evaluate("tracker.flush()")
    gate.entered.clear()
    gate.hold = threading.Event()  # the first request stays unanswered: the rest waits in the queue
    page.evaluate("for (var i = 1; i <= 600; i++) tracker.track('cta_clicked', {ctaId: 'out-' + i})")
    assert gate.entered.wait(10)
    page.click("#to-plain")  # a page of the site without the tracker: the outbox stays as it was left
    saved = page.evaluate("JSON.parse(localStorage.getItem('ap_outbox'))")
    gate.hold.set()
    assert [e["props"]["ctaId"] for e in saved] == [f"out-{i}" for i in range(101, 601)]

    page.click("#to-site")
    wait_until(lambda: page.evaluate("!!(window.tracker && window.tracker.loaded)"), "the next tracker page", 10)
    page.evaluate("tracker.flush()")
    wait_until(lambda: len(cta(sent(gate))) == 510, "the held 10 and the outbox's 500", 20)
    assert page.evaluate("localStorage.getItem('ap_outbox')") == "null"
    by_key = {e["idempotencyKey"]: e for e in sent(gate)}
    assert set(cta(sent(gate))) == {f"out-{i}" for i in (*range(1, 11), *range(101, 601))}
    for old in saved:
        new = by_key[old["idempotencyKey"]]
        assert new["occurredAt"] == old["occurredAt"] and new["sentAt"] > old["occurredAt"]
    restored = [
        r for r in batches(gate) if any(e["idempotencyKey"] == saved[0]["idempotencyKey"] for e in r["body"]["events"])
    ]
    assert restored[0]["headers"].get("Sec-Fetch-Mode") == "cors"
    next_view = [e for e in sent(gate) if e["props"].get("path") == "/site/next"]
    assert len(next_view) == 1 and next_view[0]["occurredAt"] >= saved[-1]["occurredAt"]
    delivered = answers(gate)
    assert all("accepted" in delivered[e["idempotencyKey"]] for e in saved)


# --- 7. titles read after the router sets them ----------------------------------------------------------------------


def test_navigation_views_take_the_title_the_router_sets(site, gate, context):
    """The router sets document.title after pushState: the view reads it 100 ms later; a view still pending
    goes first when another navigation or pagehide comes."""
    page, clock = paused_page(context, site, "/site/spa")
    page.evaluate(
        """window.go = function (path, title) {
             history.pushState({}, '', path);
             setTimeout(function () { document.title = title; }, 20);  // as routers do, once the view renders
           };
           go('/site/spa/a', 'A')"""
    )
    clock.run(150)
    page.evaluate("go('/site/spa/b', 'B'); go('/site/spa/c', 'C')")  # b is left before its title comes
    clock.run(150)
    page.evaluate("tracker.flush()")
    page.evaluate("go('/site/spa/d', 'D')")
    clock.run(50)  # the title is set, the view still pending when the page goes
    page.click("#to-plain")
    wait_until(lambda: "/site/spa/d" in views(gate), "the pending view, by beacon", 10)

    titles = {e["props"]["path"]: e["props"].get("title") for e in sent(gate) if e["eventType"] == "page_viewed"}
    assert views(gate) == ["/site/spa", "/site/spa/a", "/site/spa/b", "/site/spa/c", "/site/spa/d"]
    assert (titles["/site/spa/a"], titles["/site/spa/c"], titles["/site/spa/d"]) == ("A", "C", "D")
    assert titles["/site/spa/b"] == "A"  # the title the page had when it was left
    beacon = [r for r in batches(gate) if r["headers"].get("Sec-Fetch-Mode") == "no-cors"]
    assert [e["props"]["path"] for r in beacon for e in r["body"]["events"]] == ["/site/spa/d"]


# --- 8. which navigations are views -----------------------------------------------------------------------------------


def test_views_count_routes_not_fragments_query_edits_and_count_restores(site, gate, context):
    page = open_page(context, site, "/site/views")
    page.click("#details-link")  # a #fragment of the same page
    page.evaluate("history.replaceState({}, '', '?q=a'); history.replaceState({}, '', '?q=ab')")  # search as you type
    page.evaluate("history.replaceState({}, '', '/site/views/canonical')")  # a redirect: another page
    page.evaluate("history.pushState({}, '', '/site/views/canonical?page=2')")  # the next page of results
    page.evaluate("history.pushState({}, '', '/site/views/canonical?page=2#top')")  # the hash only
    page.evaluate("tracker.flush()")
    assert views(gate) == ["/site/views", "/site/views/canonical", "/site/views/canonical"]
    assert [e["props"]["url"] for e in sent(gate)][1:] == [
        f"{site.origin}/site/views/canonical",
        f"{site.origin}/site/views/canonical?page=2",
    ]

    page.evaluate("window.kept = 'the same document'")
    page.click("#to-plain")
    page.go_back(wait_until="commit")
    wait_until(lambda: page.evaluate("location.pathname") == "/site/views/canonical", "back", 10)
    assert page.evaluate("window.kept") == "the same document"  # restored from the back/forward cache
    page.evaluate("tracker.flush()")
    assert views(gate) == ["/site/views", "/site/views/canonical", "/site/views/canonical", "/site/views/canonical"]


def test_hash_routing_counts_the_fragment(site, gate, context):
    page = open_page(context, site, "/hash/app")
    page.evaluate("location.hash = '#/pricing'")
    wait_until(lambda: page.evaluate("location.hash") == "#/pricing", "the hash route", 10)
    page.click("#details-link")
    page.evaluate("tracker.flush()")
    assert views(gate) == ["/hash/app", "/hash/app#/pricing", "/hash/app#details"]


# --- 9. referrer only for the document's own session ----------------------------------------------------------------


def test_a_later_session_does_not_inherit_the_documents_referrer(site, gate, context):
    page = open_page(context, site, "/site/ref", referer=REFERRER)
    page.evaluate(  # the tab sat idle for three hours
        "var s = JSON.parse(localStorage.getItem('ap_session')); s.last -= 3 * 3600 * 1000;"
        " localStorage.setItem('ap_session', JSON.stringify(s))"
    )
    page.evaluate("history.pushState({}, '', '/site/ref/later?utm_source=mail'); tracker.flush()")
    page.evaluate("localStorage.removeItem('ap_session')")  # a new session begins on the site's next page
    page.click("#to-site")
    wait_until(lambda: page.evaluate("!!(window.tracker && window.tracker.loaded)"), "the next page", 10)
    assert page.evaluate("document.referrer") == f"{site.origin}/site/ref/later?utm_source=mail"
    page.evaluate("tracker.flush()")

    first, later, following = sent(gate)
    assert first["attribution"] == {"landingPage": f"{site.origin}/site/ref", "referrer": REFERRER}
    assert later["attribution"] == {"landingPage": f"{site.origin}/site/ref/later?utm_source=mail", "utmSource": "mail"}
    assert following["attribution"] == {"landingPage": f"{site.origin}/site/next"}  # same-origin referrer ignored
    assert len({first["sessionId"], later["sessionId"], following["sessionId"]}) == 3
