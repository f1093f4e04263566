// A search box for a long <select> (the audit log's Event filter: one option per event, identify
// call and action, 350 in a large catalog, with only first-letter type-ahead). Typing in the box
// narrows the select's options to those whose text holds it, as the tester's picker narrows its
// own; the status line says how many are left; ArrowDown goes to the select, and Enter picks the
// only option left. The box is no filter of its own: it has no name, and its input, search and
// Enter do not reach the form's search-as-you-type (the select's change does). Without this
// script the box stays hidden and the select works as before.
(function () {
  "use strict";
  if (window.eventCatalogOptionFilter) return;
  window.eventCatalogOptionFilter = true;

  const boxFor = (target) =>
    target instanceof HTMLInputElement && target.dataset.filters ? target : null;

  const narrow = (box) => {
    const select = document.getElementById(box.dataset.filters);
    if (!select) return [];
    const wanted = box.value.trim().toLowerCase();
    const left = [];
    for (const option of select.options) {
      const keep = option.value === "" || option.selected || wanted === "" ||
        option.text.toLowerCase().includes(wanted);
      option.hidden = !keep;
      option.disabled = !keep;
      if (keep && option.value !== "" && (wanted === "" || option.text.toLowerCase().includes(wanted))) {
        left.push(option);
      }
    }
    for (const group of select.querySelectorAll("optgroup")) {
      group.hidden = Array.from(group.children).every((option) => option.hidden);
    }
    const status = document.getElementById(box.id + "-status");
    if (status) {
      status.textContent = wanted === "" ? "" : left.length === 1 ? "1 match: Enter picks it" : `${left.length} matches`;
    }
    return left;
  };

  const pick = (select, option) => {
    select.value = option.value;
    select.dispatchEvent(new Event("input", { bubbles: true }));
    select.dispatchEvent(new Event("change", { bubbles: true }));
  };

  for (const kind of ["input", "search"]) {
    document.addEventListener(kind, (event) => {
      const box = boxFor(event.target);
      if (!box) return;
      event.stopPropagation();
      narrow(box);
    }, true);
  }
  document.addEventListener("keydown", (event) => {
    const box = boxFor(event.target);
    if (!box) return;
    const select = document.getElementById(box.dataset.filters);
    if (!select) return;
    if (event.key === "Enter") {
      event.preventDefault();
      event.stopPropagation();
      const left = narrow(box);
      if (left.length === 1) pick(select, left[0]);
    } else if (event.key === "ArrowDown") {
      event.preventDefault();
      select.focus();
    }
  }, true);

  const show = () => document.querySelectorAll("input[data-filters]").forEach((box) => { box.hidden = false; });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", show);
  else show();
})();
