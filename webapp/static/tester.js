// "Copy" buttons of the tester's snippets: the one behaviour htmx cannot give. No inline handlers.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  if (!source) return;
  const done = () => { button.textContent = "Copied"; };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(source.textContent).then(done, () => selectText(source));
  } else {
    selectText(source);  // plain http off localhost has no clipboard API: select it for Ctrl+C
  }
});

function selectText(element) {
  const range = document.createRange();
  range.selectNodeContents(element);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}

// A part of a panel that loads after it (the collector's copy) says when it could not be loaded:
// htmx swaps nothing in for an error answer, which would leave "Asking…" on screen for ever.
function loadFailed(event, reason) {
  const element = event.detail.elt;
  if (!element.dataset.loadFailed) return;
  element.textContent = `${element.dataset.loadFailed}: ${reason}.`;
  element.setAttribute("role", "alert");
}
document.addEventListener("htmx:responseError", (event) => {
  loadFailed(event, `the dashboard answered ${event.detail.xhr.status}`);
});
document.addEventListener("htmx:sendError", (event) => loadFailed(event, "the dashboard did not answer"));

// Sending disables the Send button for the request (hx-disabled-elt), and a disabled button loses
// the focus to the page: a keyboard user would start again from the top. Give it back afterwards.
// Noted at the submit itself (a queued send starts later, with the button perhaps already disabled),
// and given back when that send's answer is in: the one POST of the form (previews are GETs).
let sendHadFocus = false;
document.addEventListener("submit", (event) => {
  if (event.target.id === "tester-form") {
    sendHadFocus = document.activeElement !== null && document.activeElement.id === "send-button";
  }
}, true);
document.addEventListener("htmx:afterRequest", (event) => {
  if (event.detail.elt.id !== "tester-form" || event.detail.requestConfig.verb !== "post") return;
  const button = document.getElementById("send-button");
  const lost = document.activeElement === null || document.activeElement === document.body;
  if (sendHadFocus && button && lost) {
    button.focus();
  }
  sendHadFocus = false;
});
