// What a person typed into the tester is not lost: to a sign-in that ended under it, nor to a send's answer
// that draws the form again (see below).
//
// When the sign-in ends (signed out in another tab or window, or SESSION_LIFETIME over), the page's next
// htmx request (the history polls every 5 s) answers 401 and htmx leaves for the sign-in page, which comes
// back to the page after. The form's values go, at that moment, into this tab's sessionStorage, with the
// page the sign-in comes back to, the event and the account: never sent anywhere, and gone with the tab.
// Back on that very page, signed in as the same account, they are put over the form the server drew (the
// fields the event still has, the choices it still offers); a notice above the form says so and offers to
// discard them, and the page's status region says it. They are read once: any other page of the tester
// first (an "Edit and send again", a preset, another event) drops them, so they never override a pre-fill.
// The form's tokens (CSRF, the send's) are never kept: they come with the page, fresh from the server.
(function () {
  "use strict";
  // A page htmx loads again on Back runs its scripts again: listen once.
  if (window.eventCatalogTesterTyping) return;
  window.eventCatalogTesterTyping = true;

  const KEY = "event-catalog.tester-draft";
  const RESTORED = "Restored what you had typed before signing in.";
  const KEPT = "Kept what you typed while it was being sent.";

  // The controls a person fills: not the hidden tokens and marks, nor the production confirmation, which
  // holds for one send.
  function typedControls(form) {
    return [...form.elements].filter((control) => control.name && control.name !== "confirm_production"
      && !["hidden", "submit", "button"].includes(control.type));
  }

  const valueOf = (control) => (control.type === "checkbox" ? (control.checked ? "on" : "") : control.value);

  // Puts a value in a control, if the control can hold it (a choice the select still offers, enabled).
  function put(control, value) {
    const offered = (option) => option.value === value && !option.disabled;
    if (control.type === "checkbox") {
      control.checked = value === "on";
    } else if (control.tagName === "SELECT" && ![...control.options].some(offered)) {
      return false;
    } else {
      control.value = value;
    }
    return true;
  }

  // A path as the comparison needs it: the sign-in page's `next=` and the address it leads to may encode
  // the query differently.
  function place(path) {
    const url = new URL(path, location.origin);
    url.searchParams.sort();
    return url.pathname + url.search;
  }

  // The live checks (the preview and the errors next to the fields) for the values now in the form.
  function check(form) {
    const fieldset = form.querySelector("fieldset[hx-post]");
    if (fieldset) htmx.trigger(fieldset, "change");
  }

  document.addEventListener("htmx:beforeOnLoad", (event) => {
    const xhr = event.detail.xhr;
    const signIn = xhr.status === 401 && xhr.getResponseHeader("HX-Redirect");
    const form = document.getElementById("tester-form");
    if (!signIn || !form || !form.elements.spec) return;
    const back = new URL(signIn, location.href).searchParams.get("next");
    if (!back) return;
    const draft = {
      back: place(back),
      spec: form.elements.spec.value,
      mode: form.elements.mode.value,
      account: form.dataset.account,
      values: typedControls(form).map((control) => [control.name, valueOf(control)]),
    };
    try {
      sessionStorage.setItem(KEY, JSON.stringify(draft));
    } catch (error) {
      // Storage switched off or full: the sign-in goes on, as it did before drafts were kept.
    }
  });

  function readDraft() {
    try {
      const draft = JSON.parse(sessionStorage.getItem(KEY) || "null");
      sessionStorage.removeItem(KEY);
      return draft && typeof draft === "object" && Array.isArray(draft.values) ? draft : null;
    } catch (error) {
      return null;  // storage switched off, or not JSON: nothing to restore
    }
  }

  function restore() {
    const draft = readDraft();
    const form = document.getElementById("tester-form");
    if (!draft || !form || !form.elements.spec) return;
    const same = draft.back === place(location.pathname + location.search)
      && draft.spec === form.elements.spec.value && draft.mode === form.elements.mode.value
      && draft.account === form.dataset.account;
    if (!same) return;
    const controls = typedControls(form);
    const drawn = [];
    for (const entry of draft.values) {
      if (!Array.isArray(entry) || typeof entry[1] !== "string") continue;
      const control = controls.find((candidate) => candidate.name === entry[0]);
      if (!control || valueOf(control) === entry[1]) continue;
      const was = valueOf(control);
      if (put(control, entry[1])) drawn.push([control, was]);
    }
    if (drawn.length === 0) return;
    check(form);
    notice(form, drawn);
  }

  // The notice above the form, with a way back to the form as the page drew it. Said by the page's status
  // region; the focus stays where it is.
  function notice(form, drawn) {
    const box = document.createElement("div");
    box.className = "notice";
    box.id = "tester-restored";
    box.tabIndex = -1;
    const discard = document.createElement("button");
    discard.type = "button";
    discard.className = "link";
    discard.id = "discard-restored";
    discard.textContent = "Discard it";
    box.append(`${RESTORED} `, discard);
    document.querySelector("#tester .tester-grid").before(box);
    const status = document.getElementById("tester-status");
    if (status) status.textContent = RESTORED;
    discard.addEventListener("click", () => {
      drawn.forEach(([control, value]) => put(control, value));
      check(form);
      // The button goes: the focus goes to the notice that replaces it, which says what happened.
      box.textContent = "Discarded what you had typed before signing in.";
      box.focus();
    });
    // A send makes the restored values those of a message sent: nothing left to discard.
    document.body.addEventListener("tester-sent", () => box.remove(), { once: true });
  }

  // A send's answer that draws the form again (a refused send, or one from a form that showed errors or a
  // notice) draws it with what was sent. What was typed while the send was in flight goes back into the new
  // form, the caret where it was, and is checked at once; the result panel goes on showing what was sent.
  const isSend = (event) => {
    const config = event.detail.requestConfig || {};
    return config.verb === "post" && (config.path || "").endsWith("/tester/send");
  };
  const valuesOf = (form) => new Map(typedControls(form).map((control) => [control.name, valueOf(control)]));
  let sentValues = null;
  let typedMeanwhile = null;
  document.addEventListener("htmx:beforeRequest", (event) => {
    const form = document.getElementById("tester-form");
    if (isSend(event) && form) sentValues = valuesOf(form);
  });
  document.addEventListener("htmx:beforeSwap", (event) => {
    const form = document.getElementById("tester-form");
    const sent = sentValues;
    if (!isSend(event) || !sent || !form) return;
    sentValues = null;
    if (!event.detail.shouldSwap || !event.detail.target || event.detail.target.id !== "tester") return;
    const focused = document.activeElement;
    typedMeanwhile = typedControls(form)
      .filter((control) => sent.has(control.name) && sent.get(control.name) !== valueOf(control))
      .map((control) => ({
        name: control.name,
        value: valueOf(control),
        // Number fields have no caret to read (null).
        caret: control === focused && typeof control.selectionStart === "number"
          ? [control.selectionStart, control.selectionEnd] : null,
      }));
  });
  document.addEventListener("htmx:afterSwap", (event) => {
    const typed = typedMeanwhile;
    const form = document.getElementById("tester-form");
    if (!typed || event.target.id !== "tester" || !form) return;
    typedMeanwhile = null;
    const controls = typedControls(form);
    const kept = typed.filter(({ name, value, caret }) => {
      const control = controls.find((candidate) => candidate.name === name);
      if (!control || !put(control, value)) return false;
      // htmx gave the focus back to the field of the same id; the value put in moved its caret to the end.
      if (caret && control === document.activeElement) control.setSelectionRange(caret[0], caret[1]);
      return true;
    });
    if (kept.length === 0) return;
    // The new form is htmx's once it settles: its live checks are asked for then.
    document.addEventListener("htmx:afterSettle", () => check(form), { once: true });
    // Said after the send's outcome, which the answer has just put in the page's status region.
    const status = document.getElementById("tester-status");
    if (status) status.textContent = `${status.textContent} ${KEPT}`.trim();
  });

  document.addEventListener("DOMContentLoaded", restore, { once: true });
})();
