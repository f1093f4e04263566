// One history entry per search, not per keystroke: the filter forms (catalog, audit log, health)
// and the tester's event picker push their URL so that Back returns to the previous state.
// Without this, Enter pushed the same URL twice more (its `search` and `submit` events), slow
// typing pushed one entry per pause, and arrowing through the picker one entry per event.
// - An update to the URL already shown replaces it instead of adding a copy.
// - Further input into the same field or select within STILL_ADJUSTING_MS of its previous update
//   replaces the entry that field started; a pause of more, Enter, another control or a link starts
//   a new one.
(function () {
  "use strict";
  // A page htmx loads again on Back runs its scripts again: listen once.
  if (window.eventCatalogSearchHistory) return;
  window.eventCatalogSearchHistory = true;

  var STILL_ADJUSTING_MS = 3000;
  var last = null;

  function currentPath() {
    return window.location.pathname + window.location.search;
  }

  document.addEventListener("htmx:beforeHistoryUpdate", function (event) {
    var update = event.detail.history;
    if (update.type !== "push") {
      return;
    }
    var triggering = (event.detail.requestConfig || {}).triggeringEvent;
    var adjusting = triggering && (triggering.type === "input" || triggering.type === "change");
    // Named, not the element itself: a swap may redraw the field (the tester's picker is redrawn
    // with the form it picks).
    var control = adjusting ? (triggering.target.id || triggering.target.name || null) : null;
    var now = Date.now();
    var sameControl = control !== null && last !== null && last.control === control &&
      now - last.at < STILL_ADJUSTING_MS;
    if (update.path === currentPath() || sameControl) {
      update.type = "replace";
    }
    last = control !== null ? { control: control, at: now } : null;
  });

  // Back or Forward lands on another entry: the next change starts a new one.
  window.addEventListener("popstate", function () {
    last = null;
  });
})();
