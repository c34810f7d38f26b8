// livetweet console: the live counter, countdowns, and reloads when the store changes.
// No inline script anywhere (the Content-Security-Policy forbids it).
(function () {
  "use strict";
  var csrf = document.body ? document.body.getAttribute("data-csrf") : null;

  // Edit toggles: show the editor of one draft.
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button.edit-toggle") : null;
    if (!button) return;
    var form = document.getElementById(button.getAttribute("aria-controls"));
    if (!form) return;
    form.hidden = !form.hidden;
    button.setAttribute("aria-expanded", String(!form.hidden));
    if (!form.hidden) { var area = form.querySelector("textarea"); if (area) { area.focus(); count(area); } }
  });

  // The weighted character counter: the server's parse_tweet is the one source of truth.
  var timers = new WeakMap();
  function count(area) {
    var output = document.getElementById(area.getAttribute("data-counter"));
    if (!output || !csrf) return;
    fetch("/api/count", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      // The server counts the text as it will be posted: its normal form, hashtags added.
      body: JSON.stringify(area.hasAttribute("data-draft")
        ? { text: area.value, draft: parseInt(area.getAttribute("data-draft"), 10) }
        : { text: area.value })
    }).then(function (r) { return r.json(); }).then(function (data) {
      if (typeof data.weighted_length !== "number") return;
      var added = (data.added || []).length ? " with " + data.added.join(" ") + " added" : "";
      var missing = (data.missing || []).length ? "; no room for " + data.missing.join(" ") : "";
      output.textContent = data.weighted_length + "/280" + added + missing;
      output.setAttribute("data-weighted-length", String(data.weighted_length));
      output.classList.toggle("over", data.weighted_length > 280);
    });
  }
  document.addEventListener("input", function (event) {
    var area = event.target;
    if (!area.getAttribute || !area.getAttribute("data-counter")) return;
    clearTimeout(timers.get(area));
    timers.set(area, setTimeout(function () { count(area); }, 120));
  });
  document.querySelectorAll("textarea[data-counter]").forEach(count);

  // The event clock and countdowns (the clock may run fast in a rehearsal).
  var clock = document.querySelector("[data-clock]");
  var loaded = Date.now();
  function eventNow() {
    if (!clock) return null;
    var speed = parseFloat(clock.getAttribute("data-speed") || "1");
    return new Date(Date.parse(clock.getAttribute("data-clock")) + (Date.now() - loaded) * speed);
  }
  function tick() {
    var now = eventNow();
    if (!now) return;
    var zone = clock.getAttribute("data-zone");
    clock.textContent = now.toLocaleTimeString("en-GB", { timeZone: zone, timeZoneName: "short" });
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var left = Math.round((Date.parse(el.getAttribute("data-due")) - now) / 1000);
      el.textContent = left > 0 ? "in " + Math.floor(left / 60) + "m " + String(left % 60).padStart(2, "0") + "s" : "due";
    });
  }
  tick();
  setInterval(tick, 1000);

  // Live updates: when the store changes, fetch this page again and swap its content,
  // unless the operator is typing (then say that there is news).
  if (window.EventSource && csrf) {
    var source = new EventSource("/events");
    var note = document.getElementById("live-note");
    source.addEventListener("changed", function () {
      var active = document.activeElement;
      var typing = active && (active.tagName === "TEXTAREA" || active.tagName === "INPUT" || active.tagName === "SELECT");
      if (typing) { if (note) note.textContent = "Updated elsewhere: reload to see the changes."; return; }
      fetch(location.pathname + location.search, { credentials: "same-origin" })
        .then(function (r) { return r.text(); })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var fresh = doc.getElementById("main");
          var current = document.getElementById("main");
          if (fresh && current) { current.replaceWith(fresh); }
          document.body.setAttribute("data-updated", String(Date.now()));
          document.querySelectorAll("textarea[data-counter]").forEach(count);
          clock = document.querySelector("[data-clock]"); loaded = Date.now(); tick();
        });
    });
  }
})();
