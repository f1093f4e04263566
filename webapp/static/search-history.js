// One history entry per search, not per keystroke: the filter forms (catalog, audit log, health)
// push their URL so that Back returns to the previous search. Without this, Enter pushed the same
// URL twice more (its `search` and `submit` events) and slow typing pushed one entry per pause.
// - An update to the URL already shown replaces it instead of adding a copy.
// - Typing that goes on within TYPING_PAUSE_MS of the previous typed update replaces the entry
//   that typing started; a pause, Enter, a select or a page link starts a new entry.
(function () {
  "use strict";

  var TYPING_PAUSE_MS = 3000;
  var lastTypedAt = null;

  function currentPath() {
    return window.location.pathname + window.location.search;
  }

  document.addEventListener("htmx:beforeHistoryUpdate", function (event) {
    var update = event.detail.history;
    if (update.type !== "push") {
      return;
    }
    var config = event.detail.requestConfig || {};
    var trigger = config.triggeringEvent ? config.triggeringEvent.type : null;
    var now = Date.now();
    var typing = trigger === "input";
    var stillTyping = typing && lastTypedAt !== null && now - lastTypedAt < TYPING_PAUSE_MS;
    if (update.path === currentPath() || stillTyping) {
      update.type = "replace";
    }
    lastTypedAt = typing ? now : null;
  });

  // Back or Forward lands on another entry: the next keystroke starts a new one.
  window.addEventListener("popstate", function () {
    lastTypedAt = null;
  });
})();
