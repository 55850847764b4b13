/* The collector's first-party tracker, /v1/tracker.js (docs/CLIENT.md). No dependencies.
 *   <script async src="https://collector.example/v1/tracker.js" data-write-key="wk_live"></script>
 *   <script>window.tracker = window.tracker || []; tracker.push(["track", "cta_clicked", {ctaId: "buy"}]);</script>
 * data-: write-key, host (another collector), source ("web"), session-minutes (30), auto-page="false" (views only
 * by tracker.page()), hash-routing="true" (the #fragment is part of a route). API: track(eventType, props,
 * {entityId, entityType}), page(props), identify(userId), reset(), flush() (sends now; settles when the queue is
 * empty or a retry is scheduled). Views: on load; pushState/back/forward changing pathname or search;
 * replaceState changing the pathname; a back/forward-cache restore; a navigation's title is read 100 ms after it.
 * Anonymous id, session (renewed after session-minutes idle) and user: localStorage, page memory once a write
 * fails. Attribution: the session's first page and UTM, and document.referrer (not same-origin) if the session
 * begins with the document's first event. Values are cut to the schema's limits. Sending: /v1/track/batch,
 * text/plain JSON with the write key inside, one request at a time, after 10 events or 1 s, <= 50 events and
 * 60 000 bytes (keepalive). Network errors, 5xx, 408, 429: retried in order while the page lives, after 1 s
 * doubling to 60 s or Retry-After if longer; 413 halves the batch; other 4xx drop it. On pagehide or hidden,
 * queued and unacknowledged events go by sendBeacon; what it refuses waits in localStorage (last 500) for the
 * site's next page. console.warn (100 at most): dropped batches, rejected events, no answer from the collector.
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
  var autoPage = data.autoPage !== "false", hashRouting = data.hashRouting === "true";
  var BATCH = 10, WAIT_MS = 1000, MAX_BYTES = 60000, KEEPALIVE = 64000, OUTBOX = 500;
  var UTM = { utm_source: "utmSource", utm_medium: "utmMedium", utm_campaign: "utmCampaign", utm_term: "utmTerm", utm_content: "utmContent" };
  var queue = [], inflight = null, sending = null, timer = null, retryTimer = null, maxEvents = 50, failures = 0;
  var memory = null, first = true, route = null, pending = null, warnings = 0, seen = {}, unreachable = 0;

  function store(key, value) {
    if (!memory) {
      try {
        if (value === undefined) return JSON.parse(localStorage.getItem("ap_" + key));
        return localStorage.setItem("ap_" + key, JSON.stringify(value));
      } catch (e) { // blocked, full, read-only: memory for the page, seeded with what still reads
        memory = {};
        ["anon", "session", "user", "outbox"].forEach(function (k) {
          try { memory[k] = JSON.parse(localStorage.getItem("ap_" + k)); } catch (e2) { /* unreadable */ }
        });
      }
    }
    if (value === undefined) return memory[key];
    memory[key] = value;
  }
  function cut(value, max) { // the collector's length limits, never half a surrogate pair
    value = String(value);
    return value.slice(0, value.length > max && /[\ud800-\udbff]/.test(value.charAt(max - 1)) ? max - 1 : max);
  }
  function warn(message) { if (warnings++ < 100 && window.console) console.warn("tracker: " + message); }
  function bytes(text) { return new Blob([text]).size; }
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
    var out = { landingPage: cut(location.href, 2048) }, ref = first && document.referrer;
    if (ref && new URL(ref).origin !== location.origin) out.referrer = cut(ref, 2048);
    var params = new URLSearchParams(location.search);
    for (var k in UTM) if (params.get(k)) out[UTM[k]] = cut(params.get(k), 256);
    return out;
  }

  function add(eventType, props, options, now) {
    options = options || {};
    var s = store("session"), user = store("user");
    if (!s || !s.id || now - s.last > sessionMs) s = { id: uuid(), attribution: landing() };
    first = false;
    s.last = now;
    store("session", s);
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
    if (retryTimer) return; // the retry sends it
    if (queue.length >= BATCH) flush();
    else if (!timer) timer = setTimeout(flush, WAIT_MS);
  }
  function track(eventType, props, options) {
    commit();
    add(eventType, props, options, Date.now());
  }

  function here() {
    var path = location.pathname + (hashRouting ? location.hash : "");
    return { path: path, search: location.search, at: Date.now(), props: { path: cut(path, 2048), url: cut(location.href, 2048) } };
  }
  function view(v, props) {
    if (document.title) v.props.title = cut(document.title, 512);
    for (var k in props || {}) v.props[k] = props[k];
    add("page_viewed", v.props, null, v.at);
  }
  function commit() { // the pending navigation's view, with the title the page has now
    var v = pending;
    pending = null;
    if (v) { clearTimeout(v.timer); view(v); }
  }
  function page(props) {
    commit();
    view((route = here()), props);
  }
  function navigated(replace) {
    var v = here(), last = route || {};
    route = v;
    if (v.path === last.path && (replace || v.search === last.search)) return;
    commit();
    pending = v;
    v.timer = setTimeout(commit, 100);
  }

  function take(list) { // the next batch: at most maxEvents events and MAX_BYTES of body
    var batch = [], size = 100;
    while (list.length && batch.length < maxEvents) {
      var n = bytes(JSON.stringify(list[0])) + 50;
      if (batch.length && size + n > MAX_BYTES) break;
      size += n;
      batch.push(list.shift());
    }
    return batch;
  }
  function body(events) {
    var sentAt = new Date().toISOString();
    events.forEach(function (e) { e.sentAt = sentAt; });
    return JSON.stringify({ writeKey: writeKey, events: events });
  }
  function flush() {
    clearTimeout(timer);
    clearTimeout(retryTimer);
    timer = retryTimer = null;
    commit();
    if (!sending && queue.length) sending = next().then(sent, sent);
    return sending || Promise.resolve();
  }
  function sent() {
    sending = null;
    if (queue.length && !retryTimer) flush(); // queued while the last answer was read
  }
  function next() { // one request at a time, so a retried batch stays ahead of later events
    var events = (inflight = take(queue)), text;
    if (!events.length) return Promise.resolve();
    text = body(events);
    return fetch(endpoint, { method: "POST", body: text, headers: { "Content-Type": "text/plain" }, keepalive: bytes(text) <= KEEPALIVE })
      .then(function (res) {
        return res.text().catch(function () { return ""; }).then(function (t) { return answered(events, res, t); });
      }, function () { return answered(events, null, ""); });
  }
  function answered(events, res, text) {
    var status = res ? res.status : 0, json = {};
    inflight = null;
    try { json = JSON.parse(text) || {}; } catch (e) { /* not JSON */ }
    if (status >= 200 && status < 300) {
      failures = unreachable = 0;
      (json.results || []).forEach(function (r, i) {
        var why = r.status === "rejected" && r.reason + ": " + (r.errors || []).map(function (e) { return e.field + " " + e.message; }).join("; ");
        if (why && !seen[why] && warnings < 100) {
          seen[why] = 1;
          warn("collector rejected a " + events[i].eventType + " event: " + why);
        }
      });
      return next();
    }
    if (status === 413 && events.length > 1) { // smaller batches from now on
      maxEvents = Math.ceil(events.length / 2);
      queue = events.concat(queue);
      return next();
    }
    if (status && status < 500 && status !== 408 && status !== 429) { // would never succeed
      failures = unreachable = 0;
      warn("collector answered " + status + " (" + (json.message || text) + "): " + events.length + " event(s) dropped");
      return next();
    }
    if (!status && ++unreachable === 2) {
      warn("no answer from " + endpoint + ": it is down or unreachable, or this page's origin (" + location.origin + ") is not in its ANALYTICS_CORS_ORIGINS; retrying");
    }
    queue = events.concat(queue);
    clearTimeout(timer); // the retry takes what was queued meanwhile
    timer = null;
    var after = res && res.headers.get("Retry-After"), wait = Math.min(60000, 1000 * Math.pow(2, failures++));
    after = after && (isNaN(after) ? Date.parse(after) - Date.now() : after * 1000);
    retryTimer = setTimeout(flush, after > wait ? after : wait);
  }
  function leave() { // hidden or going away: hand the browser all that is not acknowledged
    commit();
    clearTimeout(timer);
    timer = null;
    var events = (inflight || []).concat(queue), refused = [];
    inflight = null;
    queue = [];
    while (events.length) {
      var batch = take(events);
      if (!(navigator.sendBeacon && navigator.sendBeacon(endpoint, body(batch)))) refused = refused.concat(batch);
    }
    if (refused.length) store("outbox", (store("outbox") || []).concat(refused).slice(-OUTBOX));
  }
  function restore() { // what an earlier page could not send, first (same idempotency keys and occurredAt)
    var saved = store("outbox");
    if (!saved || !saved.length) return;
    store("outbox", null);
    queue = saved.concat(queue);
    if (!timer && !retryTimer) timer = setTimeout(flush, WAIT_MS);
  }

  if (autoPage) {
    ["pushState", "replaceState"].forEach(function (name) {
      var original = history[name];
      history[name] = function () {
        var result = original.apply(this, arguments);
        navigated(name === "replaceState");
        return result;
      };
    });
    addEventListener("popstate", function () { navigated(false); });
    if (hashRouting) addEventListener("hashchange", function () { navigated(false); });
  }
  addEventListener("pageshow", function (e) {
    if (!e.persisted) return;
    restore();
    if (autoPage) page();
  });
  addEventListener("pagehide", leave);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") leave();
    else restore();
  });

  var api = {
    loaded: true,
    track: track,
    page: page,
    flush: flush,
    identify: function (userId) { commit(); store("user", userId ? String(userId) : null); },
    reset: function () { commit(); store("user", null); store("anon", uuid()); store("session", null); },
    anonymousId: anonymousId,
    sessionId: function () { return (store("session") || {}).id; },
    push: function (call) { api[call[0]].apply(api, call.slice(1)); },
  };
  var calls = Array.isArray(window.tracker) ? window.tracker : [];
  window.tracker = api;
  restore();
  if (autoPage) page();
  calls.forEach(api.push);
})();
