// The tester's few behaviours htmx cannot give (copying snippets is copy.js's): keeping the keyboard focus on Send and
// on the controls that redraw the form (refusals.js says when a send, a preview or a part of a panel was
// refused, as the data-refused attributes of _tester.html and _result.html ask). No inline handlers. After
// Back, htmx loads the page again (it keeps no snapshots, personal data being what it is) and runs this
// file again: its listeners are installed once.
(function () {
  "use strict";
  if (window.eventCatalogTester) return;
  window.eventCatalogTester = true;

  // The outcome's "show it" link points at a field's error message: the field itself takes the focus,
  // so that typing fixes it (following the link alone left the focus on the page, and the next Tab
  // went past the field).
  document.addEventListener("click", (event) => {
    const link = event.target.closest('a[href^="#error-"]');
    if (!link) return;
    const field = document.querySelector(`[aria-describedby~="${CSS.escape(link.hash.slice(1))}"]`);
    if (!field) return;
    event.preventDefault();
    field.focus();
    field.scrollIntoView({ block: "center" });
  });

  // A redraw of the tester replaces the control that asked for it. htmx gives the focus back to the
  // element with the focused one's id; a control the redraw removes or hides (Raw JSON once chosen,
  // Save preset in its closed box) names in data-focus-after where the focus goes instead, so that
  // a keyboard user does not start again from the top.
  document.addEventListener("htmx:afterSettle", (event) => {
    const asked = (event.detail.requestConfig || {}).elt;
    const focused = document.activeElement;
    if (!asked || !asked.dataset || !asked.dataset.focusAfter) return;
    if (focused !== null && focused !== document.body && focused.offsetParent !== null) return;
    const target = document.getElementById(asked.dataset.focusAfter);
    if (target) target.focus();
  });

  // A pick's form that arrives after the picker moved on (an arrow pressed while it loaded, which
  // htmx drops) would put the picker back on the older event: it is not drawn, and the event the
  // picker now shows is asked for instead.
  document.addEventListener("htmx:beforeSwap", (event) => {
    const pick = document.getElementById("pick");
    const config = event.detail.requestConfig || {};
    if (!pick || config.elt !== pick || !event.detail.xhr || event.detail.xhr.status >= 400) return;
    const parameters = config.parameters || {};
    const asked = typeof parameters.get === "function" ? parameters.get("pick") : parameters.pick;
    if (asked !== undefined && asked !== pick.value) {
      event.detail.shouldSwap = false;
      htmx.trigger(pick, "change");
    }
  });

  // The preview's warnings (off-schema properties, a message over 32 KB) are said through the status
  // region the redraws keep when they appear or change, not at every redraw while the engineer types.
  const previewWarnings = () => [...document.querySelectorAll("#preview [data-announce]")]
    .map((warning) => warning.dataset.announce).join(" ");
  let warningsSaid = previewWarnings();
  document.addEventListener("htmx:afterSettle", (event) => {
    const warnings = previewWarnings();
    if (warnings === warningsSaid) return;
    warningsSaid = warnings;
    // A send's redraw says its outcome there: only a preview's says the warnings.
    const previewed = ((event.detail.requestConfig || {}).path || "").endsWith("/tester/preview");
    const status = document.getElementById("tester-status");
    if (status && warnings && previewed) status.textContent = warnings;
  });

  // Sending disables the Send button for the request (hx-disabled-elt), and a disabled button
  // loses the focus to the page: a keyboard user would start again from the top. Noted at the
  // submit itself (a queued send starts later, with the button perhaps already disabled), and given
  // back when that send's answer is in, to the Send button then on the page (a refused send redraws
  // the whole form).
  let sendHadFocus = false;
  document.addEventListener("submit", (event) => {
    if (event.target.id === "tester-form") {
      sendHadFocus = document.activeElement !== null && document.activeElement.id === "send-button";
    }
  }, true);
  document.addEventListener("htmx:afterRequest", (event) => {
    const config = event.detail.requestConfig || {};
    if (config.verb !== "post" || !(config.path || "").endsWith("/tester/send")) return;
    const button = document.getElementById("send-button");
    const lost = document.activeElement === null || document.activeElement === document.body;
    if (sendHadFocus && button && lost) {
      button.focus();
    }
    sendHadFocus = false;
  });
})();
