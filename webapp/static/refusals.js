// Every htmx request the dashboard refuses (4xx, 5xx) or that gets no answer says so where it was made.
// htmx swaps nothing in for an error answer: a Disable, a Revoke, a Delete, a Save preset or a re-send
// refused because the role was lowered meanwhile, or because the page is from before the latest sign-in,
// left the page as it was, as if it had been done. A signed-out person's request is not one of these:
// it answers 401 with HX-Redirect, and htmx goes to the sign-in page before any error event.
//
// Where the refusal shows, declared on the element that made the request:
// - data-refusal-slot="id": the element with that id (on an ancestor too: the tester's redraws say it
//   beside Send); otherwise a line inserted right after the element, emptied by its next success;
// - data-refused="Not saved": the words before the reason; without them the reason alone.
// A page with a status region for what its controls do (data-refusals: the tester's, the searches') says it
// there too; elsewhere the slot is made an alert, read out as it gets its text.
(function () {
  "use strict";
  // A page htmx loads again on Back runs its scripts again: listen once.
  if (window.eventCatalogRefusals) return;
  window.eventCatalogRefusals = true;

  // Refusals made before the dashboard's views, in words of our own.
  const REFUSED = {
    413: "the form is larger than the 1 MB a request may carry",
  };

  // The message of the dashboard's error fragment (errors/_error.html), and the form field it names.
  function refusal(xhr) {
    const page = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
    const message = page.querySelector("[data-error-message]");
    if (!message) return null;
    return { text: message.textContent.trim().replace(/\.$/, ""), field: message.dataset.field || "" };
  }

  function slotFor(element) {
    const holder = element.closest("[data-refusal-slot]");
    const named = holder && document.getElementById(holder.dataset.refusalSlot);
    if (named) return named;
    const next = element.nextElementSibling;
    if (next && next.hasAttribute("data-refusal")) return next;
    const line = document.createElement("p");
    line.className = "field-error refusal";
    line.setAttribute("data-refusal", "");
    if (element.id) line.dataset.refusalFor = element.id;
    element.after(line);
    return line;
  }

  function say(event, reason, said) {
    const element = event.detail.elt;
    if (!element || !element.isConnected) return;
    const words = element.dataset.refused
      ? `${element.dataset.refused}: ${reason}.`
      : `${reason.charAt(0).toUpperCase()}${reason.slice(1)}.`;
    // A refusal that names a form field is shown next to it too, where its fix is typed.
    const field = said && said.field && document.getElementById(`error-f-${said.field.replace(/\./g, "-")}`);
    if (field) field.textContent = `${said.text}.`;
    const slot = slotFor(element);
    const status = document.querySelector("[data-refusals]");
    // A poll refused every few seconds (a role lowered under an open page) is said once, not at each poll.
    if (slot.textContent === words && (!status || status.textContent === words)) return;
    if (!status) slot.setAttribute("role", "alert");
    slot.textContent = words;
    slot.classList.add("bad");
    if (status) status.textContent = words;
  }

  document.addEventListener("htmx:responseError", (event) => {
    const xhr = event.detail.xhr;
    const said = refusal(xhr);
    say(event, REFUSED[xhr.status] || (said && said.text) || `the dashboard answered ${xhr.status}`, said);
  });
  document.addEventListener("htmx:sendError", (event) => {
    say(event, "the dashboard did not answer", null);
  });

  // A request that went through takes back what its last refusal said beside it (a poll that failed
  // once and then answered); a slot of the page's own is redrawn by the answer itself.
  document.addEventListener("htmx:afterRequest", (event) => {
    const element = event.detail.elt;
    if (!event.detail.successful || !element) return;
    const next = element.isConnected ? element.nextElementSibling : null;
    if (next && next.hasAttribute("data-refusal")) next.remove();
    if (element.id) {
      document.querySelectorAll(`[data-refusal-for="${CSS.escape(element.id)}"]`).forEach((line) => line.remove());
    }
  });
})();
