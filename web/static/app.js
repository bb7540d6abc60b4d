/* Empiric status page: renders /api/v1/status (one call for everything),
 * refreshes every 30 s, and on demand fetches a target's reliability for
 * the time-to-repair histogram and survival curve. Hand-written SVG; no
 * library, nothing from another host. */
"use strict";

(function () {
  const REFRESH_MS = 30000;
  const DAY_S = 86400;
  const openDetails = new Set();
  let lastStatus = null;
  let firstRender = true;

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function pct(v, digits) {
    if (v == null) return "no data";
    return (v * 100).toFixed(digits == null ? 3 : digits) + "%";
  }

  function dur(s) {
    if (s == null) return "—";
    if (s < 1) return s.toFixed(2) + " s";
    if (s < 90) return s.toFixed(0) + " s";
    if (s < 5400) return (s / 60).toFixed(1) + " min";
    if (s < 2 * DAY_S) return (s / 3600).toFixed(1) + " h";
    return (s / DAY_S).toFixed(1) + " d";
  }

  function when(iso) {
    if (!iso) return "—";
    return iso.replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC");
  }

  function dayLabel(startIso, i) {
    const t = Date.parse(startIso) + i * DAY_S * 1000;
    return new Date(t).toISOString().slice(0, 10);
  }

  /* A day is coloured only when every second of it (so far) was observed.
   * A day otherwise fine on which some locations, fewer than the quorum,
   * saw the target down has a colour of its own: not downtime, not
   * nothing either. */
  function dayClass(av, cov, partial) {
    if (av == null || cov == null || cov < 1 - 1e-9) return "grey";
    if (av >= 0.9995) return partial > 0 ? "partial" : "ok";
    if (av >= 0.99) return "minor";
    if (av >= 0.95) return "warn";
    return "bad";
  }

  function partialOf(t, i) {
    const p = t.days.partial_s;
    return p ? p[i] || 0 : 0;
  }

  function dayText(t, i) {
    const d = t.days;
    const av = d.availability[i], cov = d.coverage[i];
    const name = dayLabel(d.start, i) + (i === d.availability.length - 1 ? " (today so far)" : "");
    let s = name + ": ";
    if (av == null) return s + "not observed";
    s += pct(av) + " available, " + dur(d.down_s[i]) + " down, " + d.outages[i] +
      (d.outages[i] === 1 ? " outage" : " outages");
    if (cov < 1 - 1e-9) s += "; only " + pct(cov, 1) + " of the day observed";
    if (partialOf(t, i) > 0)
      s += "; " + dur(partialOf(t, i)) + " seen down from some locations, fewer than the quorum";
    return s;
  }

  function barsSvg(t, idx) {
    const n = t.days.availability.length;
    const w = 6, gap = 2;
    let rects = "";
    for (let i = 0; i < n; i++) {
      const cls = dayClass(t.days.availability[i], t.days.coverage[i], partialOf(t, i));
      rects += '<rect x="' + i * (w + gap) + '" y="2" width="' + w + '" height="30" class="' +
        cls + '" data-day="' + i + '" data-kind="' + cls + '"></rect>';
    }
    return '<svg class="bars" id="bars-' + idx + '" data-target="' + esc(t.name) +
      '" viewBox="0 0 ' + (n * (w + gap) - gap) + ' 34" preserveAspectRatio="none"' +
      ' tabindex="0" role="img" aria-describedby="detail-' + idx + '" aria-label="' +
      esc("Daily availability of " + t.name + ", last " + n + " days") + '">' + rects + "</svg>";
  }

  function est(e) {
    if (!e || e.estimate == null) return "—";
    const ci = e.ci95 || [];
    return dur(e.estimate) + ' <span class="since">(95%: ' + dur(ci[0]) + " – " +
      (ci[1] == null ? "∞" : dur(ci[1])) + ")</span>";
  }

  function incidentsTable(t) {
    if (!t.incidents.length) return '<p class="since">No incidents recorded.</p>';
    let rows = "";
    for (const x of t.incidents) {
      const cause = [x.cause.class, x.cause.message].filter(Boolean).join(": ");
      rows += "<tr><td>" + esc(when(x.start)) + "</td><td>" +
        (x.end ? esc(when(x.end)) : "<strong>ongoing</strong>") + "</td><td>" +
        esc(dur(x.duration_s)) + '</td><td class="cause">' + esc(cause) + "</td></tr>";
    }
    return '<table class="incidents"><caption>Recent incidents</caption><thead><tr>' +
      '<th scope="col">Start</th><th scope="col">End</th><th scope="col">Duration</th>' +
      '<th scope="col">Cause</th></tr></thead><tbody>' + rows + "</tbody></table>";
  }

  function targetHtml(t, idx) {
    const a = t.availability;
    const hours = t.streak_s / 3600;
    const state = t.state || "unknown";
    const open = openDetails.has(t.name) ? " open" : "";
    return '<article class="target" data-name="' + esc(t.name) + '" aria-labelledby="h-' +
      idx + '"><div class="head"><h3 id="h-' + idx + '">' + esc(t.name) + "</h3>" +
      '<span class="state ' + esc(state) + '">' + esc(state) + "</span>" +
      '<span class="since">' + (t.since ? "since " + esc(when(t.since)) : "") +
      " · " + esc(t.kind) +
      (t.locations > 1 ? " · seen from " + t.locations + " locations" : "") + "</span></div>" +
      '<p class="streak"><strong>' + (hours >= 10 ? hours.toFixed(0) : hours.toFixed(1)) +
      "</strong> continuous hours of successful operation" +
      (t.streak_longest_s ? ' <span class="since">(longest in 90 days: ' +
        esc(dur(t.streak_longest_s)) + ")</span>" : "") + "</p>" +
      barsSvg(t, idx) +
      '<div class="axis" aria-hidden="true"><span>90 days ago</span><span>today</span></div>' +
      '<p class="detail" id="detail-' + idx + '" aria-live="polite">Hover or focus the bars' +
      " for a day's figures.</p>" +
      '<dl class="avail"><div><dt>24 h</dt><dd>' + pct(a["24h"]) + "</dd></div><div><dt>7 d</dt><dd>" +
      pct(a["7d"]) + "</dd></div><div><dt>30 d</dt><dd>" + pct(a["30d"]) +
      "</dd></div><div><dt>90 d</dt><dd>" + pct(a["90d"]) + "</dd></div></dl>" +
      '<p class="rel">MTTF ' + est(t.reliability.mttf_s) + " · MTTR " +
      est(t.reliability.mttr_s) + ' <span class="since">(' + t.reliability.failures +
      (t.reliability.failures === 1 ? " failure" : " failures") + " in 90 days)</span></p>" + incidentsTable(t) +
      '<details data-name="' + esc(t.name) + '"' + open +
      "><summary>Time to repair and survival</summary>" +
      '<div class="plots" aria-live="polite"><p class="since">Loading…</p></div></details>' +
      "</article>";
  }

  function groupHtml(g) {
    const ratio = g.all_down_ratio == null ? "—" : g.all_down_ratio.toPrecision(3) + "×";
    return '<dl class="corr" aria-label="Correlation of failures in ' + esc(g.name) + '">' +
      "<div><dt>Bursts</dt><dd>" + g.bursts + "</dd></div>" +
      "<div><dt>Largest burst</dt><dd>" + g.largest_burst + "</dd></div>" +
      "<div><dt>All down, observed</dt><dd>" + pct(g.all_down_observed, 4) + "</dd></div>" +
      "<div><dt>All down if independent</dt><dd>" + pct(g.all_down_independent, 6) +
      "</dd></div><div><dt>Observed / independent</dt><dd>" + ratio + "</dd></div></dl>";
  }

  function render(s) {
    const groups = new Map();
    for (const g of s.groups) groups.set(g.name, g);
    const sections = [];
    let cur = null, idx = 0;
    for (const t of s.targets) {
      const key = t.group == null ? "" : t.group;
      if (cur === null || cur.key !== key) {
        cur = { key: key, items: [] };
        sections.push(cur);
      }
      cur.items.push(targetHtml(t, idx++));
    }
    let html = "";
    sections.forEach(function (sec, i) {
      const g = groups.get(sec.key);
      html += '<section aria-labelledby="g-' + i + '"><h2 id="g-' + i + '">' +
        (sec.key ? "Group " + esc(sec.key) : "Ungrouped targets") + "</h2>" +
        (g ? groupHtml(g) : "") + sec.items.join("") + "</section>";
    });
    if (!s.targets.length) html = "<p>No targets yet.</p>";
    const focused = document.activeElement && document.activeElement.id;
    document.getElementById("groups").innerHTML = html;
    if (focused) {
      const el = document.getElementById(focused);
      if (el) el.focus();
    }
    document.getElementById("updated").textContent = "Updated " + when(s.now) + " · " +
      s.targets.length + " targets · refreshes every " + s.refresh_s + " s";
    /* Details rendered open fire "toggle", which reloads their plots. */
  }

  /* ---- bars: hover and keyboard ---------------------------------------- */

  function targetOf(svg) {
    const i = Number(svg.id.slice(5));
    return lastStatus ? lastStatus.targets[i] : null;
  }

  function select(svg, day) {
    const t = targetOf(svg);
    if (!t) return;
    const n = t.days.availability.length;
    day = Math.max(0, Math.min(n - 1, day));
    svg.dataset.sel = String(day);
    const prev = svg.querySelector("rect.sel");
    if (prev) prev.classList.remove("sel");
    const r = svg.querySelector('rect[data-day="' + day + '"]');
    if (r) r.classList.add("sel");
    document.getElementById("detail-" + svg.id.slice(5)).textContent = dayText(t, day);
  }

  document.addEventListener("mouseover", function (ev) {
    const r = ev.target.closest && ev.target.closest("svg.bars rect");
    if (r) select(r.ownerSVGElement, Number(r.dataset.day));
  });
  document.addEventListener("focusin", function (ev) {
    const svg = ev.target;
    if (svg.classList && svg.classList.contains("bars")) {
      const t = targetOf(svg);
      if (t) select(svg, svg.dataset.sel ? Number(svg.dataset.sel) : t.days.availability.length - 1);
    }
  });
  document.addEventListener("keydown", function (ev) {
    const svg = ev.target;
    if (!svg.classList || !svg.classList.contains("bars")) return;
    const cur = Number(svg.dataset.sel || 0);
    const step = { ArrowLeft: -1, ArrowRight: 1, PageUp: -7, PageDown: 7 }[ev.key];
    if (step) select(svg, cur + step);
    else if (ev.key === "Home") select(svg, 0);
    else if (ev.key === "End") select(svg, 1e9);
    else return;
    ev.preventDefault();
  });

  /* ---- plots (on expanding a target) ----------------------------------- */

  function histSvg(ttr) {
    const W = 300, H = 150, L = 30, B = 30;
    const hist = ttr.histogram;
    const max = Math.max(1, ...hist.map(function (h) { return h.count; }));
    const bw = (W - L - 5) / hist.length;
    const labels = ["<1s", "<10s", "<100s", "<17m", "<2.8h", "<28h", "<12d", "<4mo", "<3y", "more"];
    let out = "";
    hist.forEach(function (h, i) {
      const bh = (H - B - 10) * h.count / max;
      out += '<rect class="bar" x="' + (L + i * bw + 1) + '" y="' + (H - B - bh) + '" width="' +
        (bw - 2) + '" height="' + bh + '"><title>' + labels[i] + ": " + h.count + "</title></rect>" +
        '<text x="' + (L + i * bw + bw / 2) + '" y="' + (H - B + 12) +
        '" text-anchor="middle">' + labels[i] + "</text>";
    });
    return '<figure class="plot"><figcaption>Time to repair: ' + ttr.completed +
      " completed repairs (median " + dur(ttr.p50) + ", p90 " + dur(ttr.p90) + ')</figcaption>' +
      '<svg viewBox="0 0 ' + W + " " + H + '" role="img" aria-label="Histogram of time to repair">' +
      '<line x1="' + L + '" y1="' + (H - B) + '" x2="' + W + '" y2="' + (H - B) + '"></line>' +
      '<text x="2" y="14">' + max + "</text>" + out + "</svg></figure>";
  }

  function survivalSvg(pts) {
    const W = 300, H = 150, L = 30, B = 20;
    if (!pts.length) return '<figure class="plot"><figcaption>Survival of up periods: no ' +
      "failure observed yet.</figcaption></figure>";
    const tmax = Math.max(1, pts[pts.length - 1].t_s);
    const lx = function (t) { return L + (W - L - 5) * Math.log10(1 + t) / Math.log10(1 + tmax); };
    const ly = function (s) { return 5 + (H - B - 5) * (1 - s); };
    let d = "M" + lx(0) + " " + ly(1), s = 1;
    for (const p of pts) {
      d += " H" + lx(p.t_s).toFixed(1) + " V" + ly(p.s == null ? s : p.s).toFixed(1);
      if (p.s != null) s = p.s;
    }
    return '<figure class="plot"><figcaption>Survival of up periods (Kaplan–Meier): ' +
      "share still up after a time, log scale up to " + dur(tmax) + "</figcaption>" +
      '<svg viewBox="0 0 ' + W + " " + H + '" role="img" aria-label="Survival curve of up periods">' +
      '<line x1="' + L + '" y1="' + (H - B) + '" x2="' + W + '" y2="' + (H - B) + '"></line>' +
      '<line x1="' + L + '" y1="5" x2="' + L + '" y2="' + (H - B) + '"></line>' +
      '<text x="2" y="12">1</text><text x="2" y="' + (H - B) + '">0</text>' +
      '<text x="' + L + '" y="' + (H - 5) + '">0</text><text x="' + (W - 5) + '" y="' + (H - 5) +
      '" text-anchor="end">' + esc(dur(tmax)) + "</text>" +
      '<path class="curve" d="' + d + '"></path></svg></figure>';
  }

  function loadPlots(det) {
    const name = det.dataset.name;
    const box = det.querySelector(".plots");
    const now = lastStatus ? Date.parse(lastStatus.now) / 1000 : Date.now() / 1000;
    const url = "/api/v1/targets/" + encodeURIComponent(name) + "/reliability?from=" +
      Math.floor(now - 90 * DAY_S) + "&to=" + Math.ceil(now);
    fetch(url).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    }).then(function (rel) {
      box.innerHTML = histSvg(rel.ttr) + survivalSvg(rel.survival);
    }).catch(function (e) {
      box.innerHTML = '<p class="error">Could not load the distributions: ' + esc(e.message) + "</p>";
    });
  }

  document.addEventListener("toggle", function (ev) {
    const det = ev.target;
    if (det.tagName !== "DETAILS" || !det.dataset.name) return;
    if (det.open) {
      openDetails.add(det.dataset.name);
      loadPlots(det);
    } else {
      openDetails.delete(det.dataset.name);
    }
  }, true);

  /* ---- refresh --------------------------------------------------------- */

  function refresh() {
    fetch("/api/v1/status").then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    }).then(function (s) {
      lastStatus = s;
      render(s);
      if (firstRender) {
        firstRender = false;
        performance.mark("empiric-rendered");
        document.documentElement.dataset.renderedMs = String(Math.round(performance.now()));
        document.documentElement.dataset.ready = "1";
      }
    }).catch(function (e) {
      document.getElementById("updated").innerHTML =
        '<span class="error">Could not load the status: ' + esc(e.message) + "</span>";
    }).finally(function () {
      setTimeout(refresh, REFRESH_MS);
    });
  }

  refresh();
})();
