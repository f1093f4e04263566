// Audit live tail: skip polls while the reviewer has scrolled down the list past its newest rows, so
// that new rows do not push what they are reading out of view. With the newest rows in view again,
// the next poll brings everything that arrived meanwhile. htmx keeps polling; a cancelled request
// simply does not happen. Measured from the list, not the page: on a laptop the list starts below
// the first screen (the count, the histogram, the re-send box), and scrolling to it is watching.
(function () {
  "use strict";
  // A page htmx loads again on Back runs its scripts again: listen once.
  if (window.eventCatalogAuditTail) return;
  window.eventCatalogAuditTail = true;

  function reading() {
    var rows = document.getElementById("audit-rows");
    return rows !== null && rows.getBoundingClientRect().top < 0;
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
