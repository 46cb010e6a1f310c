// Vespene web UI: one small hand-written script. Pages work without it;
// it adds tabs, confirmations, the earlier part of long logs, live build
// output (SSE, or polling the output API where the stream is missing) and
// the live pipeline map.
"use strict";
// Script errors are kept for the browser tests to report.
window.__ui_errors = [];
window.addEventListener("error", function (e) { window.__ui_errors.push(String(e.message)); });
(function () {
  function $(sel, root) { return (root || document).querySelector(sel); }
  function $$(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  // Confirm before destructive forms.
  document.addEventListener("submit", function (e) {
    var msg = e.target.getAttribute && e.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) { e.preventDefault(); }
  });

  // Tabs: the fieldsets become tab panels; a panel holding an error opens first.
  $$(".tabs").forEach(function (bar) {
    var buttons = $$("button[data-tab]", bar);
    if (!buttons.length) { return; }
    var panels = buttons.map(function (b) { return document.getElementById(b.getAttribute("data-tab")); });
    bar.parentNode.classList.add("js-tabs");
    bar.hidden = false;
    function show(i, focus) {
      buttons.forEach(function (b, j) {
        b.setAttribute("aria-selected", i === j ? "true" : "false");
        b.tabIndex = i === j ? 0 : -1;
        if (panels[j]) { panels[j].hidden = i !== j; }
      });
      if (focus) { buttons[i].focus(); }
      try { history.replaceState(null, "", "#" + buttons[i].getAttribute("data-tab")); } catch (x) { /* ignore */ }
    }
    buttons.forEach(function (b, i) {
      b.addEventListener("click", function () { show(i, false); });
      b.addEventListener("keydown", function (e) {
        if (e.key === "ArrowRight") { show((i + 1) % buttons.length, true); }
        if (e.key === "ArrowLeft") { show((i + buttons.length - 1) % buttons.length, true); }
      });
    });
    var first = panels.findIndex(function (p) { return p && p.querySelector(".has-error"); });
    if (first < 0) { first = panels.findIndex(function (p) { return p && location.hash === "#" + p.id; }); }
    if (first < 0 && $("#tab-output")) { first = panels.indexOf($("#tab-output")); }
    show(first < 0 ? 0 : first, false);
  });

  // The earlier part of a long log, on demand.
  $$("button[data-earlier]").forEach(function (b) {
    b.addEventListener("click", function () {
      b.disabled = true;
      fetch(b.getAttribute("data-earlier"), { credentials: "same-origin" })
        .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); })
        .then(function (html) {
          var log = document.getElementById(b.getAttribute("data-target"));
          log.insertAdjacentHTML("afterbegin", html);
          b.parentNode.remove();
        })
        .catch(function (e) { b.disabled = false; b.textContent = "Could not load (" + e.message + "); try again"; });
    });
  });

  // ANSI colours of live text, as the server renders them.
  var FG = { 30: 0, 31: 1, 32: 2, 33: 3, 34: 4, 35: 5, 36: 6, 37: 7 };
  function ansi(text, state) {
    var frag = document.createDocumentFragment();
    var re = /\x1b\[([0-9;]*)([@-~])|\x1b./g, last = 0, m;
    function emit(s) {
      if (!s) { return; }
      var cls = [];
      if (state.fg !== null) { cls.push("af" + state.fg); }
      if (state.bold) { cls.push("bo"); }
      if (cls.length) { var span = document.createElement("span"); span.className = cls.join(" "); span.textContent = s; frag.appendChild(span); }
      else { frag.appendChild(document.createTextNode(s)); }
    }
    while ((m = re.exec(text)) !== null) {
      emit(text.slice(last, m.index));
      last = re.lastIndex;
      if (m[2] === "m") {
        (m[1] || "0").split(";").forEach(function (c) {
          c = parseInt(c || "0", 10);
          if (c === 0) { state.fg = null; state.bold = false; }
          else if (c === 1) { state.bold = true; }
          else if (c === 22) { state.bold = false; }
          else if (c === 39) { state.fg = null; }
          else if (FG[c] !== undefined) { state.fg = FG[c]; }
          else if (c >= 90 && c <= 97) { state.fg = c - 90 + 8; }
        });
      }
    }
    emit(text.slice(last));
    return frag;
  }

  // Live build output.
  var build = $("#build");
  if (build && build.getAttribute("data-active") === "true") {
    var id = build.getAttribute("data-build");
    var cursor = { output: build.getAttribute("data-out") || "0", messages: build.getAttribute("data-msg") || "0" };
    var states = { output: { fg: null, bold: false }, messages: { fg: null, bold: false } };
    function append(stream, text) {
      var log = document.getElementById("log-" + stream);
      if (!log || !text) { return; }
      var atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      log.appendChild(ansi(text, states[stream]));
      if (atEnd) { log.scrollTop = log.scrollHeight; }
    }
    function setStatus(status) {
      $$("[data-status]").forEach(function (el) {
        el.className = "st st-" + status.toLowerCase();
        var t = $(".st-text", el); if (t) { t.textContent = status; }
      });
    }
    function ended(status) {
      setStatus(status);
      var stop = $("#stop-form"); if (stop) { stop.remove(); }
      build.setAttribute("data-active", "false");
    }
    var polling = false;
    function poll() {
      if (polling) { return; }
      polling = true;
      window.__live_via = "polling";
      var done = false;
      function step() {
        Promise.all(["output", "messages"].map(function (s) {
          return fetch("/api/v1/builds/" + id + "/output?stream=" + s + "&after=" + cursor[s], { credentials: "same-origin" })
            .then(function (r) { return r.json(); })
            .then(function (page) { append(s, page.text); cursor[s] = String(page.last_seq); return page; });
        })).then(function (pages) {
          var status = pages[0].status;
          setStatus(status);
          var complete = !/^(QUEUED|RUNNING|ABORTING)$/.test(status);
          if (complete && done) { ended(status); return; }
          done = complete;
          setTimeout(step, complete ? 200 : 1000);
        }).catch(function (e) { window.__ui_errors.push("poll: " + e); setTimeout(step, 3000); });
      }
      step();
    }
    if (window.EventSource) {
      var opened = false;
      var es = new EventSource("/api/v1/builds/" + id + "/events?last_event_id=" + cursor.output + ":" + cursor.messages);
      es.onopen = function () { opened = true; window.__live_via = "sse"; };
      ["output", "messages"].forEach(function (s) {
        es.addEventListener(s, function (e) { append(s, JSON.parse(e.data).text); });
      });
      es.addEventListener("status", function (e) { setStatus(JSON.parse(e.data).status); });
      es.addEventListener("end", function (e) { es.close(); ended(JSON.parse(e.data).status); });
      es.onerror = function () {
        // No stream here (or it failed before it opened): poll instead.
        if (!opened) { es.close(); poll(); }
      };
    } else {
      poll();
    }
  }

  // The pipeline map, redrawn from the server (the fragment at its
  // data-refresh) every 2 s while one of its builds is active, every 10 s
  // otherwise, and not while the tab is hidden. A pipeline has no event
  // stream of its own, and the next stage's builds only exist once the
  // previous stage has succeeded.
  var map = $("#map");
  if (map) {
    var refresh = function () {
      var grid = $(".map", map);
      var live = grid && grid.getAttribute("data-live") === "true";
      setTimeout(function () {
        if (document.hidden) { refresh(); return; }
        fetch(map.getAttribute("data-refresh"), { credentials: "same-origin" })
          .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); })
          .then(function (html) { map.innerHTML = html; window.__map_redraws = (window.__map_redraws || 0) + 1; refresh(); })
          .catch(function () { setTimeout(refresh, 5000); });
      }, live ? 2000 : 10000);
    };
    refresh();
  }
})();
