/* The collector's first-party tracker (served at /v1/tracker.js; docs/CLIENT.md). No dependencies.
 *
 *   <script async src="https://collector.example/v1/tracker.js" data-write-key="wk_live"></script>
 *   <script>window.tracker = window.tracker || []; tracker.push(["track", "cta_clicked", {ctaId: "buy"}]);</script>
 *
 * Page views (the first, then every History API navigation), tracker.track(eventType, props, {entityId,
 * entityType}), tracker.identify(userId) and tracker.flush(). Events go to /v1/track/batch as text/plain JSON with
 * the write key inside (no CORS preflight), batched (10 events or 1 s), and with navigator.sendBeacon on pagehide
 * so the last events of a page are not lost. An anonymous id and a session id (renewed after 30 minutes without
 * an event) live in this site's localStorage; the landing page, referrer and UTM tags of a session's first page
 * ride along as its attribution.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || (window.tracker && window.tracker.loaded)) return;
  var data = script.dataset;
  var endpoint = (data.host || new URL(script.src).origin).replace(/\/$/, "") + "/v1/track/batch";
  var writeKey = data.writeKey || null;
  var source = data.source || "web";
  var sessionMs = (Number(data.sessionMinutes) || 30) * 60000;
  var BATCH = 10, MAX_BATCH = 50, WAIT_MS = 1000;
  var UTM = { utm_source: "utmSource", utm_medium: "utmMedium", utm_campaign: "utmCampaign", utm_term: "utmTerm", utm_content: "utmContent" };
  var queue = [], timer = null, lastHref = null, memory = {}, retried = {};

  function store(key, value) {
    try {
      if (value === undefined) return JSON.parse(localStorage.getItem("ap_" + key));
      localStorage.setItem("ap_" + key, JSON.stringify(value));
    } catch (e) { // storage blocked: this page's memory only
      if (value === undefined) return memory[key];
      memory[key] = value;
    }
  }
  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, function (c) {
      var r = (Math.random() * 16) | 0;
      return (c === "x" ? r : (r & 3) | 8).toString(16);
    });
  }
  function anonymousId() {
    var id = store("anon");
    if (!id) store("anon", (id = uuid()));
    return id;
  }
  function landing() { // what a session's first page tells: where the visitor came from
    var out = { landingPage: location.href };
    if (document.referrer) out.referrer = document.referrer;
    var params = new URLSearchParams(location.search);
    for (var k in UTM) if (params.get(k)) out[UTM[k]] = params.get(k).slice(0, 256);
    return out;
  }
  function session(now) {
    var s = store("session");
    if (!s || !s.id || now - s.last > sessionMs) s = { id: uuid(), attribution: landing() };
    s.last = now;
    store("session", s);
    return s;
  }

  function enqueue(eventType, props, options) {
    options = options || {};
    var now = Date.now(), s = session(now), user = store("user");
    var event = {
      eventType: eventType,
      source: source,
      occurredAt: new Date(now).toISOString(),
      actorId: user || anonymousId(),
      actorType: user ? "user" : "anonymous",
      sessionId: s.id,
      props: props || {},
      attribution: s.attribution,
      idempotencyKey: uuid(),
    };
    if (options.entityId) { event.entityId = String(options.entityId); event.entityType = options.entityType; }
    queue.push(event);
    if (queue.length >= BATCH) flush();
    else if (!timer) timer = setTimeout(flush, WAIT_MS);
  }
  function body(events) {
    var sentAt = new Date().toISOString();
    return JSON.stringify({ writeKey: writeKey, events: events.map(function (e) { e.sentAt = sentAt; return e; }) });
  }
  function flush() {
    clearTimeout(timer);
    timer = null;
    var sends = [];
    while (queue.length) {
      var events = queue.splice(0, MAX_BATCH);
      sends.push(post(events));
    }
    return Promise.all(sends);
  }
  function post(events) {
    return fetch(endpoint, { method: "POST", body: body(events), headers: { "Content-Type": "text/plain" }, keepalive: true })
      .then(function (res) { if (res.status >= 500 || res.status === 429) throw new Error("HTTP " + res.status); })
      .catch(function () { // once more later: the idempotency keys make a repeat harmless
        events.forEach(function (e) { if (!retried[e.idempotencyKey]) { retried[e.idempotencyKey] = true; queue.push(e); } });
        if (queue.length && !timer) timer = setTimeout(flush, 5 * WAIT_MS);
      });
  }
  function beacon() { // the page is going away: hand what is left to the browser
    clearTimeout(timer);
    timer = null;
    while (queue.length) {
      var events = queue.splice(0, MAX_BATCH);
      if (!(navigator.sendBeacon && navigator.sendBeacon(endpoint, body(events)))) post(events);
    }
  }
  function page(props) {
    lastHref = location.href;
    var p = { path: location.pathname, url: location.href };
    if (document.title) p.title = document.title.slice(0, 512);
    for (var k in props || {}) p[k] = props[k];
    enqueue("page_viewed", p);
  }
  function navigated() { if (location.href !== lastHref) page(); }

  ["pushState", "replaceState"].forEach(function (name) {
    var original = history[name];
    history[name] = function () {
      var result = original.apply(this, arguments);
      navigated();
      return result;
    };
  });
  window.addEventListener("popstate", navigated);
  window.addEventListener("pagehide", beacon);
  document.addEventListener("visibilitychange", function () { if (document.visibilityState === "hidden") beacon(); });

  var api = {
    loaded: true,
    track: enqueue,
    page: page,
    flush: flush,
    identify: function (userId) { store("user", userId ? String(userId) : null); },
    reset: function () { store("user", null); store("anon", uuid()); store("session", null); },
    anonymousId: anonymousId,
    sessionId: function () { return (store("session") || {}).id; },
    push: function (call) { api[call[0]].apply(api, call.slice(1)); },
  };
  var pending = Array.isArray(window.tracker) ? window.tracker : [];
  window.tracker = api;
  if (data.autoPage !== "false") page();
  pending.forEach(api.push);
})();
