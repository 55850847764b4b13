// Analytics pipeline dashboard: polls api/overview and renders it with plain DOM and SVG (no libraries, no CDN).
(function () {
  "use strict";

  // ?refresh=<seconds> (2 or more) overrides the default 15 s poll.
  var REFRESH_MS = Math.max(2, Number(new URLSearchParams(location.search).get("refresh")) || 15) * 1000;
  var SVG_NS = "http://www.w3.org/2000/svg";
  var SERIES = ["accepted", "duplicate", "rejected"];
  var timer = null;
  var lastOk = null;

  var fmtInt = new Intl.NumberFormat("en-US");

  function $(sel, root) { return (root || document).querySelector(sel); }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "className") node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c != null) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }

  function svg(tag, attrs, text) {
    var node = document.createElementNS(SVG_NS, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text != null) node.textContent = text;
    return node;
  }

  function num(n) { return n == null ? "–" : fmtInt.format(n); }
  function pct(r) { return r == null ? "–" : (r * 100).toFixed(r < 0.1 ? 2 : 1) + " %"; }

  function dur(seconds) {
    if (seconds == null) return "–";
    if (seconds < 1) return Math.round(seconds * 1000) + " ms";
    if (seconds < 90) return seconds.toFixed(seconds < 10 ? 1 : 0) + " s";
    if (seconds < 5400) return Math.round(seconds / 60) + " min";
    if (seconds < 172800) return (seconds / 3600).toFixed(1) + " h";
    return Math.round(seconds / 86400) + " d";
  }

  function when(iso) {
    if (!iso) return "–";
    var d = new Date(iso);
    return d.toISOString().replace("T", " ").slice(0, 19) + " UTC";
  }

  function hhmm(iso) { return new Date(iso).toISOString().slice(11, 16); }

  // breaches: what the monitor DAG's checks would alert on now; their titles become the tooltip.
  function figure(name, value, sub, cls, breaches) {
    var box = $('[data-figure="' + name + '"]');
    box.classList.remove("alert", "error");
    if (cls) box.classList.add(cls);
    box.title = (breaches || []).map(function (b) { return b.title; }).join("\n");
    $(".value", box).textContent = value;
    var s = $(".sub", box);
    if (s) s.textContent = sub || "";
    return box;
  }

  // A section's error or empty message; true when the section has data to draw.
  function sectionState(root, section, emptyText) {
    var state = $(".state", root);
    state.className = "state";
    if (!section || !section.ok) {
      state.classList.add("error");
      state.textContent = (section && section.error ? section.error : "Unavailable") + (section && section.detail ? " — " + section.detail : "");
      state.hidden = false;
      return false;
    }
    if (emptyText) {
      state.classList.add("empty");
      state.textContent = emptyText;
      state.hidden = false;
    } else {
      state.hidden = true;
      state.textContent = "";
    }
    return true;
  }

  // An axis maximum of four equal integer steps of 1, 2 or 5 × 10^k.
  function niceMax(v) {
    var raw = Math.max(1, v / 4);
    var p = Math.pow(10, Math.floor(Math.log10(raw)));
    var step = [1, 2, 5, 10].map(function (f) { return f * p; }).find(function (s) { return s >= raw; });
    return 4 * step;
  }

  function lineChart(node, series) {
    while (node.firstChild) node.removeChild(node.firstChild);
    var W = 960, H = 260, L = 48, R = 12, T = 12, B = 26;
    var n = series.length;
    var max = niceMax(Math.max.apply(null, series.map(function (p) { return Math.max(p.accepted, p.duplicate, p.rejected); }).concat([0])));
    var x = function (i) { return L + (n <= 1 ? 0 : (i * (W - L - R)) / (n - 1)); };
    var y = function (v) { return T + (H - T - B) * (1 - v / max); };
    for (var t = 0; t <= 4; t++) {
      var v = (max * t) / 4;
      node.appendChild(svg("line", { "class": "grid-line", x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      node.appendChild(svg("text", { "class": "axis", x: L - 6, y: y(v) + 4, "text-anchor": "end" }, fmtInt.format(v)));
    }
    var step = Math.max(1, Math.ceil(n / 8));
    for (var i = 0; i < n; i += step) {
      node.appendChild(svg("text", { "class": "axis", x: x(i), y: H - 8, "text-anchor": "middle" }, hhmm(series[i].minute)));
    }
    SERIES.forEach(function (key) {
      var pts = series.map(function (p, i) { return x(i).toFixed(1) + "," + y(p[key]).toFixed(1); }).join(" ");
      node.appendChild(svg("polyline", { "class": "series " + key, points: pts, "data-series": key,
        "data-total": String(series.reduce(function (s, p) { return s + p[key]; }, 0)) }));
    });
    var cursor = svg("line", { "class": "cursor", y1: T, y2: H - B, visibility: "hidden" });
    var tip = svg("text", { "class": "tip", y: T + 12, visibility: "hidden" });
    node.appendChild(cursor);
    node.appendChild(tip);
    node.onmousemove = function (ev) {
      var box = node.getBoundingClientRect();
      var px = ((ev.clientX - box.left) / box.width) * W;
      var i = Math.max(0, Math.min(n - 1, Math.round(((px - L) / (W - L - R)) * (n - 1))));
      var p = series[i];
      if (!p) return;
      cursor.setAttribute("x1", x(i)); cursor.setAttribute("x2", x(i));
      cursor.setAttribute("visibility", "visible");
      tip.textContent = hhmm(p.minute) + "  accepted " + p.accepted + " · duplicate " + p.duplicate + " · rejected " + p.rejected;
      tip.setAttribute("x", Math.min(x(i) + 6, W - 330));
      tip.setAttribute("visibility", "visible");
    };
    node.onmouseleave = function () { cursor.setAttribute("visibility", "hidden"); tip.setAttribute("visibility", "hidden"); };
  }

  function barChart(node, rows) {
    while (node.firstChild) node.removeChild(node.firstChild);
    var W = 480, H = 160, L = 40, R = 8, T = 8, B = 22;
    var max = niceMax(Math.max.apply(null, rows.map(function (r) { return r.waiting; }).concat([0])));
    var bw = rows.length ? (W - L - R) / rows.length : 0;
    var y = function (v) { return T + (H - T - B) * (1 - v / max); };
    [0, max / 2, max].forEach(function (v) {
      node.appendChild(svg("line", { "class": "grid-line", x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      node.appendChild(svg("text", { "class": "axis", x: L - 5, y: y(v) + 4, "text-anchor": "end" }, fmtInt.format(v)));
    });
    rows.forEach(function (r, i) {
      var bar = svg("rect", { "class": "bar", x: L + i * bw + 1, y: y(r.waiting), width: Math.max(1, bw - 2), height: y(0) - y(r.waiting), "data-hour": r.hour, "data-waiting": r.waiting });
      bar.appendChild(svg("title", {}, hhmm(r.hour) + " UTC: " + r.waiting + " waiting"));
      node.appendChild(bar);
      if (rows.length <= 12 || i % Math.ceil(rows.length / 8) === 0) {
        node.appendChild(svg("text", { "class": "axis", x: L + i * bw + bw / 2, y: H - 6, "text-anchor": "middle" }, hhmm(r.hour)));
      }
    });
  }

  function renderCollector(c) {
    var root = $("#collector");
    if (!sectionState(root, c, c && c.empty)) {
      ["accepted", "duplicates", "rejected", "dedup-rate"].forEach(function (f) { figure(f, c && c.error ? c.error : "–", "", "error"); });
      $('[data-figure="dedup-rate"] .meter .fill').style.width = "0";
      lineChart($("#chart"), []);
      return;
    }
    var h = c.lastHour;
    figure("accepted", num(h.accepted));
    var reasons = Object.keys(h.duplicatesByReason || {}).map(function (k) { return k + " " + num(h.duplicatesByReason[k]); }).join(", ");
    figure("duplicates", num(h.duplicatesFound), reasons);
    var w = c.monitorWindow;
    var checked = w.totalChecks + w.rejected;
    figure("rejected", num(h.rejected),
      "last " + Math.round(w.windowSeconds / 60) + " min: " + pct(checked ? w.rejected / checked : 0) + " · alert above " + pct(c.rejectionThreshold),
      c.rejectionAboveThreshold ? "alert" : null,
      c.breaches.filter(function (b) { return b.kind === "monitor.collector_rejection_rate"; }));
    var m = c.monitorWindow;
    var mins = Math.round(m.windowSeconds / 60);
    var above = c.dedupSourcesAbove.length ? " · over for " + c.dedupSourcesAbove.join(", ") : "";
    var box = figure("dedup-rate", pct(m.deduplicationRate),
      "last " + mins + " min, " + num(m.totalChecks) + " checked · alert above " + pct(c.dedupThreshold) + " per source" + above,
      c.dedupAboveThreshold ? "alert" : null,
      c.breaches.filter(function (b) { return b.kind === "monitor.collector_dedup_rate"; }));
    var scale = Math.max(c.dedupThreshold * 2, m.deduplicationRate, 0.01);
    $(".meter .fill", box).style.width = Math.min(100, (m.deduplicationRate / scale) * 100) + "%";
    $(".meter .mark", box).style.left = Math.min(100, (c.dedupThreshold / scale) * 100) + "%";
    box.dataset.rate = String(m.deduplicationRate);
    box.dataset.threshold = String(c.dedupThreshold);
    lineChart($("#chart"), c.series || []);
  }

  function renderStream(s) {
    if (!s || !s.ok) {
      var msg = s && s.error ? s.error : "Unavailable";
      ["stream-length", "lag", "oldest-pending", "redis"].forEach(function (f) { figure(f, msg, s && s.detail, "error"); });
      return;
    }
    // Sharded (ANALYTICS_STREAM_SHARDS > 1): the figures are summed over the streams, each stream's listed here.
    figure("stream-length", num(s.length), s.shards ? s.shards.map(function (h) {
      return h.stream + ": lag " + num(h.lag) + ", pending " + num(h.pending);
    }).join(" · ") : s.stream);
    figure("lag", num(s.lag), (s.groupExists ? "not yet delivered to " + s.group : "consumer group " + s.group + " not created yet") +
      " · alert above " + num(s.lagMax), s.lagAboveThreshold ? "alert" : null,
      s.breaches.filter(function (b) { return b.kind === "monitor.stream_lag"; }));
    // Idle time in the group (how long unacknowledged), the stuck-batch alert's measure; not the age since XADD.
    var idle = s.longestIdleSeconds != null ? s.longestIdleSeconds : s.oldestPendingIdleSeconds;
    figure("oldest-pending", s.pending ? dur(idle) : "none",
      num(s.pending) + " pending (delivered, not acked)" + (s.pending ? ", oldest added " + dur(s.oldestPendingAgeSeconds) + " ago" : "") +
      " · alert when unacknowledged over " + dur(s.pendingAgeMaxSeconds), s.pendingAboveThreshold ? "alert" : null,
      s.breaches.filter(function (b) { return b.kind === "monitor.stuck_pending"; }));
    // Whether Redis keeps what the collector accepted (AOF on, noeviction), per server holding a stream.
    var servers = s.redis || [];
    var weak = servers.filter(function (r) { return !r.durable; });
    figure("redis", weak.length ? "not durable" : "durable", (weak.length ? weak : servers).map(function (r) {
      return r.server + ": AOF " + (r.aof ? "on" : "off") + ", maxmemory-policy " + r.maxmemoryPolicy;
    }).join(" · "), s.redisNotDurable ? "alert" : null,
      s.breaches.filter(function (b) { return b.kind === "monitor.redis_not_durable"; }));
  }

  function renderLoads(l) {
    var root = $("#loads");
    var body = $("tbody", root);
    while (body.firstChild) body.removeChild(body.firstChild);
    if (!sectionState(root, l, l && l.empty)) {
      figure("last-load", l && l.error ? l.error : "–", l && l.detail, "error");
      figure("counts", "–", l && l.detail, "error");
      return;
    }
    // The monitor's accepted-against-stored check (RUNBOOK events-missing): what it found over the last day.
    var c = l.counts;
    figure("counts", c.missing ? num(c.missing) + " missing" : "all stored",
      c.comparedUpTo ? (c.hoursMissing ? num(c.hoursMissing) + (c.hoursMissing === 1 ? " hour" : " hours") + " short · " : "") + "hours before " + hhmm(c.comparedUpTo) + " UTC compared"
        : "no whole hour compared yet",
      c.missing ? "alert" : null);
    if (!l.last) { figure("last-load", "never", "no load has run yet", l.stale ? "alert" : null, l.breaches); return; }
    figure("last-load", dur(l.sinceLastLoadSeconds) + " ago",
      num(l.last.inserted) + (l.last.inserted === 1 ? " row in " : " rows in ") + dur(l.last.duration_ms / 1000) + " · data " + dur(l.dataFreshnessSeconds) + " old",
      l.stale ? "alert" : null, l.breaches);
    l.recent.forEach(function (r) {
      body.appendChild(el("tr", {}, [
        el("td", { text: when(r.finished_at) }),
        el("td", { className: "num", text: num(r.entries_read) }),
        el("td", { className: "num", text: num(r.inserted) }),
        el("td", { className: "num", text: num(r.rejected) }),
        el("td", { className: "num", text: dur(r.duration_ms / 1000) }),
        el("td", { className: "num", text: num(r.lag_left) }),
      ]));
    });
  }

  function renderEnrichment(e) {
    var root = $("#enrichment");
    var ok = sectionState(root, e, e && e.empty);
    $(".total", root).textContent = ok ? num(e.total) + " events waiting, last " + e.hours + " h; " +
      (e.overdue == null ? "no loader watermark yet" : num(e.overdue) + " waiting over " + dur(e.graceMinutes * 60)) +
      " · alert above " + num(e.backlogMax) : "";
    $(".total", root).title = ok ? e.breaches.map(function (b) { return b.title; }).join("\n") : "";
    $(".total", root).classList.toggle("over", !!(ok && e.aboveThreshold));
    $(".total", root).dataset.total = ok ? String(e.total) : "";
    barChart($("#backlog"), ok ? e.perHour : []);
  }

  function renderNightly(n) {
    var root = $("#nightly");
    var dl = $("dl", root);
    while (dl.firstChild) dl.removeChild(dl.firstChild);
    if (!sectionState(root, n, n && n.empty) || !n.last) return;
    var st = n.last.stats || {};
    var rows = [
      ["Finished", when(n.last.finished_at) + " (" + dur(n.ageSeconds) + " ago)"],
      ["Interval", when(n.last.interval_start) + " → " + when(n.last.interval_end)],
      ["Window", st.window_rule ? "the " + dur((Date.parse(n.last.interval_end) - Date.parse(n.last.interval_start)) / 1000) +
        " before " + st.window_rule : "–"],
      ["Scanned", num(st.scanned)],
      ["Marked duplicate", num(st.marked)],
      ["Rate", pct(n.rate)],
      ["Alert above", pct(n.threshold)],
      ["Duration", st.duration_ms == null ? "–" : dur(st.duration_ms / 1000)],
      ["Run", n.last.run_id || "–"],
    ];
    rows.forEach(function (r) { dl.appendChild(el("dt", { text: r[0] })); dl.appendChild(el("dd", { text: r[1], "data-field": r[0] })); });
    var rate = $('dd[data-field="Rate"]', dl);
    if (n.aboveThreshold) rate.classList.add("over");
  }

  function renderAlerts(a) {
    var root = $("#alerts");
    var body = $("tbody", root);
    while (body.firstChild) body.removeChild(body.firstChild);
    var badge = $("#firing-count");
    if (!sectionState(root, a, a && a.empty)) { badge.hidden = true; return; }
    badge.hidden = !a.firing;
    badge.textContent = a.firing + " firing";
    a.recent.forEach(function (r) {
      var where = [r.dag_id, r.task_id].filter(Boolean).join(" › ") + (r.run_id ? " (" + r.run_id + ")" : "");
      var log = r.logUrl ? el("a", { href: r.logUrl, target: "_top", rel: "noopener", text: "log" }) : el("span", { text: "–" });
      body.appendChild(el("tr", { "data-alert-id": String(r.id), "data-state": r.state }, [
        el("td", {}, [el("span", { className: "badge " + r.state, text: r.state })]),
        el("td", { text: r.severity }),
        el("td", {}, [el("div", { className: "alert-title", text: r.title }), el("div", { className: "alert-message", text: r.message })]),
        el("td", { text: where || r.kind }),
        el("td", { text: when(r.created_at) + (r.resolved_at ? "\nresolved " + when(r.resolved_at) : "") }),
        el("td", {}, [log]),
      ]));
    });
  }

  function render(data) {
    renderCollector(data.collector);
    renderStream(data.stream);
    renderLoads(data.loads);
    renderEnrichment(data.enrichment);
    renderNightly(data.nightlyDedup);
    renderAlerts(data.alerts);
    document.body.dataset.generatedAt = data.generatedAt;
  }

  function setStatus(text, stale) {
    var s = $("#status");
    s.textContent = text;
    s.classList.toggle("stale", !!stale);
  }

  // Which stores the page (and the DAGs) read, and from where: a fallback to DATABASE_URL / REDIS_URL is flagged.
  function renderStores(stores) {
    var p = $("#stores");
    while (p.firstChild) p.removeChild(p.firstChild);
    if (!stores) { p.hidden = true; return; }
    var fallback = false;
    [["postgres", "PostgreSQL"], ["redis", "Redis"]].forEach(function (pair, i) {
      var s = stores[pair[0]];
      if (!s) return;
      fallback = fallback || s.fallback;
      if (i) p.appendChild(document.createTextNode(" · "));
      p.appendChild(el("span", { "data-store": pair[0], "data-source": s.source, className: s.fallback ? "fallback" : "" }, [
        pair[1] + " " + s.target + " from " + s.source + (s.fallback ? " (connection not defined)" : ""),
      ]));
    });
    p.classList.toggle("warn", fallback);
    p.title = fallback ? "The DAGs read this store from the environment because the Airflow connection is not defined: " +
      "check it is the one the collector writes to, or define the connection." : "";
    p.hidden = false;
  }

  // Airflow's login, then back here: the whole UI when framed by it (same origin), else this page.
  function goToLogin() {
    var win = window;
    try { if (window.top && window.top.location.origin === location.origin) win = window.top; } catch (e) { win = window; }
    var back = win.location.pathname + win.location.search + win.location.hash;
    win.location.assign(new URL("login", document.baseURI).href + "?next=" + encodeURIComponent(back));
  }

  // The error envelope's message ({code, message}), or null when the body is not one.
  function envelopeMessage(resp) {
    return resp.json().then(function (b) { return b && b.message ? b.message : null; }, function () { return null; });
  }

  function refresh() {
    clearTimeout(timer);
    var hours = $("#hours").value;
    fetch("api/overview?hours=" + encodeURIComponent(hours), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (resp) {
        if (resp.status === 401) {
          var gone = new Error("Session expired: taking you to the Airflow login");
          gone.fatal = true;
          gone.login = true;
          throw gone;
        }
        if (!resp.ok) {
          return envelopeMessage(resp).then(function (message) {
            var err = new Error(resp.status === 403 ? (message || "Not allowed to view this page")
              : "Dashboard API answered HTTP " + resp.status + (message ? ": " + message : ""));
            err.fatal = resp.status === 403 || resp.status === 503;
            throw err;
          });
        }
        return resp.json();
      })
      .then(function (data) {
        $("#fatal").hidden = true;
        render(data);
        renderStores(data.stores);
        lastOk = new Date();
        setStatus("Live · updated " + lastOk.toISOString().slice(11, 19) + " UTC · every " + REFRESH_MS / 1000 + " s");
      })
      .catch(function (err) {
        var msg = err.message || String(err);
        if (err.fatal) { var f = $("#fatal"); f.textContent = msg; f.hidden = false; }
        setStatus("Refresh failed: " + msg + (lastOk ? " · showing data from " + lastOk.toISOString().slice(11, 19) + " UTC" : ""), true);
        if (err.login) { goToLogin(); return "stop"; }
      })
      .then(function (stop) { if (stop !== "stop") timer = setTimeout(refresh, REFRESH_MS); });
  }

  // Follow the Airflow UI's colour mode (same origin: its "theme" key in localStorage).
  function applyTheme() {
    var theme = null;
    try { theme = localStorage.getItem("theme"); } catch (e) { theme = null; }
    document.documentElement.classList.toggle("dark", theme === "dark");
    document.documentElement.classList.toggle("light", theme === "light");
  }

  applyTheme();
  window.addEventListener("storage", function (ev) { if (ev.key === "theme") applyTheme(); });
  $("#hours").addEventListener("change", refresh);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) refresh(); });
  refresh();
})();
