// Audit live tail: skip polls while the reviewer has scrolled down the list, so that new rows do
// not push what they are reading out of view. Back at the top, the next poll brings everything that
// arrived meanwhile. htmx keeps polling; a cancelled request simply does not happen.
(function () {
  "use strict";
  // A page htmx loads again on Back runs its scripts again: listen once.
  if (window.eventCatalogAuditTail) return;
  window.eventCatalogAuditTail = true;

  var THRESHOLD = 80; // pixels scrolled before the tail counts as "reading"

  function reading() {
    return window.scrollY > THRESHOLD;
  }

  function mark(widget) {
    if (widget) {
      widget.toggleAttribute("data-paused", reading());
    }
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var widget = event.target;
    if (widget.id !== "audit-tail") {
      return;
    }
    mark(widget);
    if (reading()) {
      event.preventDefault();
    }
  });

  window.addEventListener("scroll", function () {
    mark(document.getElementById("audit-tail"));
  }, { passive: true });
})();
