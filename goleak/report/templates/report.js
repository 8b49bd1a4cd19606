(function () {
  "use strict";
  // Everything from the dump arrives as JSON and goes into the page with textContent or
  // setAttribute: no string is ever parsed as HTML.
  var data = JSON.parse(document.getElementById("goleak-data").textContent);
  var clusters = data.clusters;
  var frames = data.frames; // [package, function, location, link, user, name without package]
  var flagHelp = data.flag_help;
  var BATCH = data.batch;
  var SVG_NS = "http://www.w3.org/2000/svg";

  var rowsEl = document.getElementById("rows");
  var filterEl = document.getElementById("filter");
  var sortEl = document.getElementById("sort");
  var statusEl = document.getElementById("status");
  var moreEl = document.getElementById("more");

  var hiddenGroups = {};
  var hiddenStates = {};
  var open = {};          // cluster index -> true / false once the user toggled it
  var allOpen = null;     // true / false after "expand all" / "collapse all"
  var order = [];         // cluster indexes that pass the filters, in sort order
  var shown = 0;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function num(n) { return Number(n).toLocaleString("en-US"); }
  function safeLink(href) { return /^https?:\/\//i.test(href) ? href : ""; }

  // -- filtering -------------------------------------------------------------------
  var frameText = null;
  function searchable(c) {
    var parts = [c.title, c.state_text, c.id];
    if (c.labels) c.labels.forEach(function (kv) {
      parts.push(kv[0]);
      kv[1].forEach(function (v) { parts.push(kv[0] + "=" + v[0]); });
    });
    return parts.join("\n").toLowerCase();
  }
  function clusterMatches(c, i, term, frameHit) {
    if (c._text === undefined) c._text = searchable(c);
    if (c._text.indexOf(term) >= 0) return true;
    for (var k = 0; k < c.frames.length; k++) if (frameHit[c.frames[k]]) return true;
    return c.created_by !== undefined && frameHit[c.created_by] === 1;
  }
  function computeOrder() {
    var q = filterEl.value.toLowerCase().split(/\s+/).filter(Boolean);
    var hits = q.map(function (term) {
      if (frameText === null) frameText = frames.map(function (f) { return (f[1] + "\n" + f[2]).toLowerCase(); });
      var hit = new Uint8Array(frames.length);
      for (var j = 0; j < frameText.length; j++) if (frameText[j].indexOf(term) >= 0) hit[j] = 1;
      return hit;
    });
    var out = [];
    outer: for (var i = 0; i < clusters.length; i++) {
      var c = clusters[i];
      if (hiddenGroups[c.group] || hiddenStates[c.state]) continue;
      for (var t = 0; t < q.length; t++) if (!clusterMatches(c, i, q[t], hits[t])) continue outer;
      out.push(i);
    }
    var key = sortEl.value;
    if (key === "rank") {
      // Suspects (by rank) first, then the rest in the report's own order.
      out.sort(function (a, b) {
        var ra = clusters[a].rank || Infinity, rb = clusters[b].rank || Infinity;
        return ra === rb ? a - b : ra - rb;
      });
    } else {
      var field = { count: "count", delta: "delta", wait: "wait_max" }[key];
      out.sort(function (a, b) {
        var va = clusters[a][field] || 0, vb = clusters[b][field] || 0;
        return vb === va ? a - b : vb - va;
      });
    }
    return out;
  }

  // -- rows --------------------------------------------------------------------------
  function sparkline(counts) {
    var w = 64, h = 18, peak = Math.max.apply(null, counts.concat([1]));
    var step = counts.length > 1 ? (w - 4) / (counts.length - 1) : 0;
    var svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("class", "spark");
    svg.setAttribute("width", w);
    svg.setAttribute("height", h);
    svg.setAttribute("viewBox", "0 0 " + w + " " + h);
    svg.setAttribute("aria-hidden", "true");
    var pts = counts.map(function (n, k) {
      return (2 + k * step).toFixed(1) + "," + (h - 2 - (n / peak) * (h - 4)).toFixed(1);
    });
    var line = document.createElementNS(SVG_NS, "polyline");
    line.setAttribute("points", pts.join(" "));
    svg.appendChild(line);
    var last = pts[pts.length - 1].split(",");
    var dot = document.createElementNS(SVG_NS, "circle");
    dot.setAttribute("cx", last[0]);
    dot.setAttribute("cy", last[1]);
    dot.setAttribute("r", "2");
    svg.appendChild(dot);
    return svg;
  }

  function locationOf(f) {
    var link = safeLink(f[3]);
    if (!link) return el("span", "loc", f[2]);
    var a = el("a", "loc", f[2]);
    a.setAttribute("href", link);
    a.setAttribute("rel", "noreferrer noopener");
    return a;
  }

  function isOpen(i, pos) {
    if (open[i] !== undefined) return open[i];
    if (allOpen !== null) return allOpen;
    return pos < data.expanded_at_start; // the first rows of any view start open
  }

  function buildRow(i, pos) {
    var c = clusters[i];
    var tr = el("tr", "row");
    tr.id = "c-" + c.id;
    tr.setAttribute("data-cluster", c.id);
    tr.setAttribute("data-group", c.group);

    var tdToggle = el("td");
    var btn = el("button", "toggle");
    btn.type = "button";
    btn.setAttribute("aria-label", "stack of " + c.title);
    tdToggle.appendChild(btn);
    tr.appendChild(tdToggle);

    var tdCount = el("td", "num count-cell", num(c.count));
    if (c.counts && c.counts.length > 1) {
      tdCount.appendChild(sparkline(c.counts));
      tdCount.title = data.snapshots.map(function (s, k) { return s + ": " + num(c.counts[k]); }).join("\n");
    }
    tr.appendChild(tdCount);
    if (data.has_counts) {
      var delta = c.delta || 0;
      tr.appendChild(el("td", "num " + (delta > 0 ? "delta-up" : delta < 0 ? "delta-down" : ""),
        (delta > 0 ? "+" : "") + num(delta)));
    }
    var tdGroup = el("td");
    var label = c.group === "other" ? "" : c.group === "suspect" ? "suspect #" + c.rank : c.group;
    if (label) tdGroup.appendChild(el("span", "badge " + c.group, label));
    tr.appendChild(tdGroup);
    tr.appendChild(el("td", "state-cell", c.state_text + (c.wait ? " · " + c.wait : "")));

    var tdFn = el("td", "fn-cell");
    tdFn.appendChild(el("span", "fn", c.title));
    if (c.where !== undefined) {
      var where = el("span", "where");
      where.appendChild(locationOf(frames[c.where]));
      tdFn.appendChild(where);
    }
    if (c.flags) c.flags.forEach(function (f) {
      var chip = el("span", "flag", f);
      chip.title = flagHelp[f] || "";
      tdFn.appendChild(chip);
    });
    if (c.match) tdFn.appendChild(el("span", "flag", c.match));
    tr.appendChild(tdFn);

    var detail = null;
    function setOpen(on) {
      btn.setAttribute("aria-expanded", on ? "true" : "false");
      btn.textContent = on ? "\u25be" : "\u25b8";
      if (on && !detail) {
        detail = buildDetail(c);
        detail.id = "d-" + c.id;
        btn.setAttribute("aria-controls", detail.id);
        tr.parentNode.insertBefore(detail, tr.nextSibling);
      }
      if (detail) detail.hidden = !on;
    }
    btn.addEventListener("click", function () {
      var on = btn.getAttribute("aria-expanded") !== "true";
      open[i] = on;
      setOpen(on);
    });
    tr._setOpen = setOpen;
    tr._startOpen = isOpen(i, pos);
    return tr;
  }

  function buildDetail(c) {
    var tr = el("tr", "detail");
    var td = el("td");
    td.colSpan = data.has_counts ? 6 : 5;
    tr.appendChild(td);

    if (c.reasons) {
      td.appendChild(el("h3", null, "Why it is a suspect"));
      var ul = el("ul");
      c.reasons.forEach(function (r) { ul.appendChild(el("li", null, r)); });
      td.appendChild(ul);
    }
    if (c.flags) {
      td.appendChild(el("h3", null, "Flags"));
      var fl = el("ul", "flags");
      c.flags.forEach(function (f) {
        var li = el("li");
        li.appendChild(el("span", "flag", f));
        li.appendChild(document.createTextNode(" " + (flagHelp[f] || "")));
        fl.appendChild(li);
      });
      td.appendChild(fl);
    }
    td.appendChild(el("h3", null, "Stack"));
    var st = el("table", "stack");
    var body = el("tbody");
    if (c.unavailable) body.appendChild(noteRow("stack unavailable: the goroutine was running on another thread"));
    c.frames.forEach(function (k) {
      var f = frames[k];
      var row = el("tr", f[4] ? "user" : "");
      row.appendChild(el("td", "pkg", f[0]));
      var fn = el("td", "sfn", f[5]);
      fn.title = f[1];
      row.appendChild(fn);
      var loc = el("td");
      loc.appendChild(locationOf(f));
      row.appendChild(loc);
      body.appendChild(row);
    });
    if (c.elided) body.appendChild(noteRow(c.elided > 0 ? "… " + c.elided + " frames elided by the runtime"
      : "… more frames elided by the runtime"));
    if (c.truncated) body.appendChild(noteRow("… the stack was cut off in the dump"));
    st.appendChild(body);
    td.appendChild(st);

    var dl = el("dl");
    function item(name, value) {
      dl.appendChild(el("dt", null, name));
      var dd = el("dd");
      if (typeof value === "string") dd.textContent = value; else dd.appendChild(value);
      dl.appendChild(dd);
    }
    if (c.created_by !== undefined) {
      var cb = el("span");
      var f = frames[c.created_by];
      cb.appendChild(el("code", null, f[1]));
      cb.appendChild(document.createTextNode(" "));
      cb.appendChild(locationOf(f));
      item("created by", cb);
    }
    if (c.labels) {
      item("labels", c.labels.map(function (kv) {
        return kv[0] + "=" + kv[1].map(function (v) { return v[0] + " (" + num(v[1]) + ")"; }).join(", ");
      }).join("; "));
    }
    if (c.labels_other) {
      item("other label values", c.labels_other.map(function (kn) {
        return kn[0] + ": " + num(kn[1]) + " goroutines";
      }).join("; "));
    }
    if (c.counts) item("per snapshot", data.snapshots.map(function (s, k) { return s + " " + num(c.counts[k]); }).join(" · "));
    if (c.match) item("matched", c.match);
    if (c.leaked) item("leaked", num(c.leaked) + " proven by the runtime");
    if (c.locked) item("locked to thread", num(c.locked));
    if (c.samples) item("goroutine ids", c.samples.join(", "));
    item("cluster id", c.id);
    td.appendChild(dl);
    return tr;
  }

  function noteRow(text) {
    var tr = el("tr");
    var td = el("td", "note", text);
    td.colSpan = 3;
    tr.appendChild(td);
    return tr;
  }

  function appendBatch() {
    var frag = document.createDocumentFragment();
    var made = [];
    var end = Math.min(order.length, shown + BATCH);
    for (var p = shown; p < end; p++) {
      var tr = buildRow(order[p], p);
      frag.appendChild(tr);
      made.push(tr);
    }
    rowsEl.appendChild(frag);
    made.forEach(function (tr) { if (tr._startOpen) tr._setOpen(true); else tr._setOpen(false); });
    shown = end;
    moreEl.hidden = shown >= order.length;
    moreEl.textContent = "Show " + num(Math.min(BATCH, order.length - shown)) + " more";
    updateStatus();
  }

  function updateStatus() {
    var text = "Showing " + num(shown) + " of " + num(order.length) + " clusters";
    if (order.length !== clusters.length) text += " that match (" + num(clusters.length) + " in all)";
    statusEl.textContent = text + ".";
  }

  function rerender() {
    order = computeOrder();
    shown = 0;
    rowsEl.textContent = "";
    appendBatch();
  }

  // -- controls ----------------------------------------------------------------------
  function makeToggles(container, entries, hidden) {
    entries.forEach(function (e) {
      var b = el("button", null, (e[0] || "?") + " " + num(e[1]));
      b.type = "button";
      b.setAttribute("aria-pressed", "true");
      b.setAttribute("data-value", e[0]);
      b.title = "show or hide " + num(e[1]) + (e[1] === 1 ? " cluster" : " clusters");
      b.addEventListener("click", function () {
        var on = b.getAttribute("aria-pressed") !== "true";
        b.setAttribute("aria-pressed", on ? "true" : "false");
        if (on) delete hidden[e[0]]; else hidden[e[0]] = true;
        rerender();
      });
      container.appendChild(b);
    });
  }
  makeToggles(document.getElementById("group-toggles"), data.groups, hiddenGroups);
  makeToggles(document.getElementById("state-toggles"), data.states, hiddenStates);

  var pending = null;
  filterEl.addEventListener("input", function () {
    // Typing fast over 20,000 clusters: filter once the keys pause.
    if (pending !== null) clearTimeout(pending);
    pending = setTimeout(function () { pending = null; rerender(); }, clusters.length > 2000 ? 150 : 0);
  });
  filterEl.addEventListener("keydown", function (e) {
    if (e.key === "Escape") { filterEl.value = ""; rerender(); }
  });
  sortEl.addEventListener("change", rerender);
  moreEl.addEventListener("click", appendBatch);
  document.getElementById("expand-all").addEventListener("click", function () {
    allOpen = true; open = {}; rerender();
  });
  document.getElementById("collapse-all").addEventListener("click", function () {
    allOpen = false; open = {}; rerender();
  });
  document.addEventListener("keydown", function (e) {
    var t = e.target && e.target.tagName;
    if (e.key === "/" && t !== "INPUT" && t !== "SELECT" && t !== "TEXTAREA") {
      e.preventDefault();
      filterEl.focus();
    }
  });
  if ("IntersectionObserver" in window) {
    // Load the next batch as the reader scrolls near the end of the table.
    new IntersectionObserver(function (entries) {
      if (entries.some(function (x) { return x.isIntersecting; }) && shown < order.length) appendBatch();
    }, { rootMargin: "600px" }).observe(moreEl);
  }

  // A link to report.html#c-<cluster id> opens that cluster.
  function openFromHash() {
    var m = /^#c-([0-9a-f]+)$/.exec(window.location.hash);
    if (!m) return;
    var pos = order.findIndex(function (i) { return clusters[i].id === m[1]; });
    if (pos < 0) return;
    while (shown <= pos) appendBatch();
    var tr = document.getElementById("c-" + m[1]);
    if (tr) { tr._setOpen(true); tr.scrollIntoView(); }
  }

  rerender();
  openFromHash();
  window.addEventListener("hashchange", openFromHash);
  document.documentElement.setAttribute("data-ready", "true");
  if (window.performance && performance.mark) performance.mark("goleak-ready");
})();
