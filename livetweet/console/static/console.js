// livetweet console: the live control room in the browser.
// Counters and previews from the server, the event clock and countdowns, live updates that
// change only what changed (focus and typing kept), the connection's state, alarms, typed text
// kept across reloads, keyboard shortcuts. No inline script anywhere (the CSP forbids it).
(function () {
  "use strict";
  var body = document.body;
  if (!body) return;
  var csrf = body.getAttribute("data-csrf");
  var zone = body.getAttribute("data-zone") || "UTC";
  var speed = parseFloat(body.getAttribute("data-speed") || "1") || 1;
  var serverNow = Date.parse(body.getAttribute("data-now") || "") || Date.now();
  var loaded = Date.now();
  var store = window.localStorage || null;

  function get(key) { try { return store ? store.getItem(key) : null; } catch (e) { return null; } }
  function put(key, value) { try { if (store) { if (value === null) store.removeItem(key); else store.setItem(key, value); } } catch (e) { /* full or off */ } }

  // --- the event clock (it runs fast in a rehearsal) ------------------------------------
  function eventNow() { return new Date(serverNow + (Date.now() - loaded) * speed); }
  function hms(date, tz) {
    return date.toLocaleTimeString("en-GB", { timeZone: tz, hour12: false, timeZoneName: "short" });
  }
  function paused() { return !!document.querySelector("[data-paused]"); }
  var offline = false;

  function tick() {
    var now = eventNow();
    var clock = document.querySelector("[data-clock]");
    if (clock) clock.textContent = hms(now, zone);
    var own = document.querySelector("[data-own-zone]");
    var mine = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (own && mine && mine !== zone) { own.hidden = false; own.textContent = " (your time " + hms(now, mine) + ")"; }
    var stopped = paused();
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var left = Math.round((Date.parse(el.getAttribute("data-due")) - now) / 1000);
      var text;
      if (offline) text = "(no contact with the run)";
      else if (stopped) text = "(paused)";
      else if (left > 0) text = "in " + (left >= 60 ? Math.floor(left / 60) + "m " + String(left % 60).padStart(2, "0") + "s" : left + " s");
      else text = "due now";
      if (el.textContent !== text) el.textContent = text;
    });
    document.querySelectorAll("[data-hold-until]").forEach(function (el) {
      if (Date.parse(el.getAttribute("data-hold-until")) <= now) el.hidden = true;  // too late to cancel
    });
  }

  // --- counter and preview: the server's parse is the one source of truth ----------------
  var timers = new WeakMap();
  function count(area) {
    var output = document.getElementById(area.getAttribute("data-counter"));
    if (!output || !csrf) return null;
    var payload = area.hasAttribute("data-draft")
      ? { text: area.value, draft: parseInt(area.getAttribute("data-draft"), 10) }
      : { text: area.value };
    return fetch("/api/count", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(payload)
    }).then(function (r) { return r.json(); }).then(function (data) {
      if (typeof data.weighted_length !== "number") {
        if (data.error) output.textContent = data.error;
        return;
      }
      var added = (data.added || []).length ? " with " + data.added.join(" ") + " added" : "";
      var missing = (data.missing || []).length ? "; no room for " + data.missing.join(" ") : "";
      output.textContent = data.weighted_length + "/280" + added + missing;
      output.setAttribute("data-weighted-length", String(data.weighted_length));
      output.classList.toggle("over", data.weighted_length > 280 || !data.valid);
      var preview = document.querySelector("[data-preview-for='" + area.id + "'] .text") ||
        document.querySelector("[data-preview-for='" + area.id + "']");
      if (preview && typeof data.html === "string") {
        var doc = new DOMParser().parseFromString("<p>" + data.html + "</p>", "text/html");
        preview.replaceChildren.apply(preview, Array.from(doc.body.firstChild.childNodes));
      }
    }).catch(function () { /* the connection banner says it */ });
  }
  function keyFor(area) {
    if (area.getAttribute("data-store")) return "livetweet:" + area.getAttribute("data-store");
    var form = area.closest("form[data-revision]");
    return form ? "livetweet:edit:" + area.getAttribute("data-draft") + ":" + form.getAttribute("data-revision") : null;
  }
  document.addEventListener("input", function (event) {
    var el = event.target;
    if (!el.getAttribute) return;
    if (el.getAttribute("data-counter")) {
      clearTimeout(timers.get(el));
      timers.set(el, setTimeout(function () { count(el); }, 120));
      var key = keyFor(el);
      if (key) put(key, el.value);  // kept in this browser until it is sent
    }
    var selects = el.getAttribute("data-selects");
    if (selects && el.value) { var radio = document.getElementById(selects); if (radio) radio.checked = true; }
  });

  // --- editors: open, close, and text kept across a reload --------------------------------
  function openEditor(form, focus) {
    form.hidden = false;
    form.setAttribute("data-keep", "1");  // live updates leave an open editor as the operator has it
    var button = document.querySelector("[aria-controls='" + form.id + "']");
    if (button) button.setAttribute("aria-expanded", "true");
    var area = form.querySelector("textarea");
    if (area) { count(area); if (focus) area.focus(); }
  }
  function closeEditor(form) {
    form.hidden = true;
    form.removeAttribute("data-keep");
    var area = form.querySelector("textarea");
    if (area) { put(keyFor(area), null); area.value = area.defaultValue; }
    var button = document.querySelector("[aria-controls='" + form.id + "']");
    if (button) { button.setAttribute("aria-expanded", "false"); button.focus(); }
    if (form.querySelector(".conflict")) location.replace(location.pathname + location.search);
  }
  document.addEventListener("click", function (event) {
    var t = event.target.closest ? event.target : null;
    if (!t) return;
    var toggle = t.closest("button.edit-toggle");
    if (toggle) {
      var form = document.getElementById(toggle.getAttribute("aria-controls"));
      if (form) { if (form.hidden) openEditor(form, true); else closeEditor(form); }
      return;
    }
    var close = t.closest("button.edit-close");
    if (close) { closeEditor(close.closest("form")); }
  });
  function restoreTyping() {
    document.querySelectorAll("textarea[data-counter]").forEach(function (area) {
      var key = keyFor(area);
      var saved = key ? get(key) : null;
      var form = area.closest("form");
      if (saved !== null && saved !== area.value && !form.querySelector(".field-error")) {
        area.value = saved;
        if (form && form.classList.contains("edit")) openEditor(form, false);
        var note = document.createElement("p");
        note.className = "restored";
        note.textContent = "Restored what you were typing before the page reloaded (not saved yet).";
        area.insertAdjacentElement("afterend", note);
      }
      if (form && form.classList.contains("edit") && !form.hidden) openEditor(form, false);
      count(area);
    });
    var refused = document.querySelector(".field-error");
    if (refused) {
      var form = refused.closest("form");
      var area = form ? form.querySelector("textarea") : null;
      if (form && form.classList.contains("edit")) openEditor(form, false);
      if (area) area.focus();
      if (form && form.scrollIntoView) form.scrollIntoView({ block: "center" });
      // The reason in view, and again once the preview above it has filled in (it pushes it down).
      var showReason = function () { if (refused.scrollIntoView) refused.scrollIntoView({ block: "nearest" }); };
      showReason();
      var counted = area ? count(area) : null;
      if (counted) counted.then(showReason);
    }
  }

  // --- sending: nothing is sent while the run cannot be reached ---------------------------
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (offline && form.method === "post") {
      event.preventDefault();
      say("alarm-note", "Not sent: there is no contact with the run. Wait until the page says it is live again.");
      return;
    }
    form.querySelectorAll("textarea[data-counter]").forEach(function (area) { put(keyFor(area), null); });
  });

  // --- live updates: change only what changed --------------------------------------------
  function sameSlot(a, b) {
    if (a.nodeType !== b.nodeType) return false;
    if (a.nodeType !== 1) return true;
    return a.tagName === b.tagName && !a.id && !b.id;
  }
  function update(cur, fresh) {
    if (cur.nodeType !== 1) { if (cur.nodeValue !== fresh.nodeValue) cur.nodeValue = fresh.nodeValue; return; }
    if (cur.hasAttribute("data-keep") || cur.isEqualNode(fresh)) return;
    Array.from(cur.attributes).forEach(function (a) {
      if (!fresh.hasAttribute(a.name) && a.name !== "data-keep" && !(a.name === "hidden" && cur.hasAttribute("data-keep"))) cur.removeAttribute(a.name);
    });
    Array.from(fresh.attributes).forEach(function (a) {
      if (cur.getAttribute(a.name) !== a.value) cur.setAttribute(a.name, a.value);
    });
    if (cur.tagName === "TEXTAREA" || (cur.tagName === "INPUT" && cur === document.activeElement)) return;
    children(cur, fresh);
  }
  function children(cur, fresh) {
    var keyed = {};
    Array.from(cur.children).forEach(function (el) { if (el.id) keyed[el.id] = el; });
    var pos = cur.firstChild;
    Array.from(fresh.childNodes).forEach(function (f) {
      var match = null;
      if (f.nodeType === 1 && f.id && keyed[f.id]) match = keyed[f.id];
      else if (pos && sameSlot(pos, f)) match = pos;
      if (match) {
        if (match === pos) pos = pos.nextSibling; else cur.insertBefore(match, pos);
        update(match, f);
      } else {
        cur.insertBefore(document.importNode(f, true), pos);
      }
    });
    while (pos) { var next = pos.nextSibling; cur.removeChild(pos); pos = next; }
  }
  function alarmCount() {
    var strip = document.getElementById("alarms");
    return strip ? parseInt(strip.getAttribute("data-count") || "0", 10) : 0;
  }
  function badge() {
    var n = alarmCount();
    var base = document.title.replace(/^\(\d+\) /, "");
    document.title = n ? "(" + n + ") " + base : base;
  }
  function say(id, text) { var el = document.getElementById(id); if (el) { el.textContent = ""; el.textContent = text; } }
  var refreshing = false, again = false;
  function refresh() {
    if (refreshing) { again = true; return; }
    refreshing = true;
    var wasPaused = paused(), before = alarmCount();
    fetch(location.pathname + location.search, { credentials: "same-origin", headers: { "X-Livetweet-Refresh": "1" } })
      .then(function (r) {
        if (r.redirected && /\/login$/.test(r.url)) { location.href = "/login"; throw new Error("logged out"); }
        return r.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        ["status", "main"].forEach(function (id) {
          var fresh = doc.getElementById(id), current = document.getElementById(id);
          if (fresh && current) update(current, fresh);
        });
        var freshNow = Date.parse(doc.body.getAttribute("data-now") || "");
        if (freshNow) { serverNow = freshNow; loaded = Date.now(); }
        document.title = doc.title;
        badge();
        body.setAttribute("data-updated", String(Date.now()));
        var after = alarmCount();
        if (after > before) { alert("New: " + (document.querySelector("#alarms li:last-child") || {}).textContent); }
        if (paused() && !wasPaused) say("alarm-note", (document.getElementById("paused-banner") || {}).textContent || "Posting is paused.");
        if (!paused() && wasPaused) say("live-note", "Posting resumed.");
        tick();
      })
      .catch(function () { /* the connection banner says it */ })
      .then(function () { refreshing = false; if (again) { again = false; refresh(); } });
  }

  // --- alarms: the strip, the title badge, and (if chosen in this browser) sound and notification
  function alert(text) {
    say("alarm-note", text);
    if (get("livetweet:pref:sound") === "1") beep();
    if (get("livetweet:pref:notify") === "1" && window.Notification && Notification.permission === "granted") {
      try { new Notification("livetweet", { body: text }); } catch (e) { /* not here */ }
    }
  }
  function beep() {
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      var ctx = new Ctx(), osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.frequency.value = 880; gain.gain.value = 0.1;
      osc.connect(gain); gain.connect(ctx.destination); osc.start(); osc.stop(ctx.currentTime + 0.2);
    } catch (e) { /* no sound here */ }
  }
  document.querySelectorAll("[data-pref]").forEach(function (box) {
    var key = "livetweet:pref:" + box.getAttribute("data-pref");
    box.checked = get(key) === "1";
    box.addEventListener("change", function () {
      put(key, box.checked ? "1" : null);
      if (box.checked && box.getAttribute("data-pref") === "notify" && window.Notification && Notification.permission === "default") {
        Notification.requestPermission();
      }
    });
  });

  // --- the connection to the run ----------------------------------------------------------
  var lastHeard = Date.now(), lastHeardEvent = eventNow(), lost = false;
  function heard() {
    lastHeard = Date.now(); lastHeardEvent = eventNow();
    if (lost) {
      lost = false; offline = false;
      body.classList.remove("offline");
      var conn = document.getElementById("connection");
      if (conn) { conn.hidden = true; conn.textContent = ""; }
      say("live-note", "Live again: the page is up to date.");
      refresh();
    }
  }
  function lose(why) {
    var conn = document.getElementById("connection");
    var text = "The run has stopped or cannot be reached (" + why + ", last heard at " + hms(lastHeardEvent, zone) +
      "). Nothing you do here reaches it; this page reconnects by itself when the run is back.";
    if (!lost) { lost = true; offline = true; body.classList.add("offline"); say("alarm-note", text); }
    if (conn) { conn.hidden = false; if (conn.textContent !== text) conn.textContent = text; }
    tick();
  }
  if (window.EventSource && csrf) {
    var source = new EventSource("/events");
    source.addEventListener("hello", heard);
    source.addEventListener("ping", heard);
    source.addEventListener("changed", function () { heard(); refresh(); });
    source.addEventListener("error", function () { lose("connection lost"); });
    setInterval(function () { if (!lost && Date.now() - lastHeard > 4000) lose("no word for 4 s"); }, 1000);
  }

  // --- keyboard shortcuts (the queue) ----------------------------------------------------
  function cards() { return Array.from(document.querySelectorAll("article.draft")); }
  function current() { return document.activeElement && document.activeElement.closest ? document.activeElement.closest("article.draft") : null; }
  document.addEventListener("keydown", function (event) {
    var t = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable)) {
      if (event.key === "Escape" && t.closest("form.edit")) closeEditor(t.closest("form.edit"));
      return;
    }
    var list = cards();
    if (!list.length && event.key !== "?" && event.key !== "/") return;
    var at = list.indexOf(current());
    var card = at >= 0 ? list[at] : null;
    function go(i) { var next = list[Math.max(0, Math.min(list.length - 1, i))]; if (next) { next.tabIndex = -1; next.focus(); next.scrollIntoView({ block: "nearest" }); } }
    function press(selector) { var b = card && card.querySelector(selector); if (b) b.click(); }
    switch (event.key) {
      case "j": go(at + 1); break;
      case "k": go(at < 0 ? 0 : at - 1); break;
      case "a": press("button[data-key='a']"); break;
      case "e": press("button[data-key='e']"); break;
      case "r": var reason = card && card.querySelector("form.reject input[name=reason]"); if (reason) reason.focus(); break;
      case "/": var search = document.querySelector("[data-key='/']"); if (search) search.focus(); break;
      case "?": var help = document.getElementById("keys-help"); if (help && help.showModal) help.showModal(); break;
      default: return;
    }
    event.preventDefault();
  });

  // --- the page's address: no message comes back on reload ------------------------------
  if (/[?&](msg|sig)=/.test(location.search) || /^\/drafts\//.test(location.pathname)) {
    var params = new URLSearchParams(location.search);
    params.delete("msg"); params.delete("sig");
    var path = /^\/drafts\//.test(location.pathname) ? "/queue" : location.pathname;
    var query = params.toString();
    history.replaceState(null, "", path + (query ? "?" + query : "") + location.hash);
  }

  restoreTyping();
  badge();
  tick();
  setInterval(tick, 250);
  document.documentElement.dataset.ready = "1";  // every handler is attached (tests wait for it)
})();
