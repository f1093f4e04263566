// A search box that narrows a long list to the items whose text holds what is typed. `data-filters`
// on the box is a selector for the items: the options of a <select> (the audit log's Event filter:
// one option per event, identify call and action, 350 in a large catalog, with only first-letter
// type-ahead) or any elements (the tester's scope presets, shown as chips from nine on). A group
// of items follows them: an <optgroup> hides when none of its options is left, a <details> opens
// while it holds a match. The line `#<box id>-status` says how many are left, `#<box id>-none`
// shows when none is. For a select, ArrowDown goes to it and Enter picks the only option left.
// The box is no field of its own: its input, search and Enter do not reach the form around it
// (neither its search-as-you-type nor its preview; Enter submits nothing). A box shipped hidden
// shows once this script runs, so without it the list works as before.
// A box with `data-searched` leaves the narrowing to the server (the tester's picker searches
// properties, owners and allowed values, which the options' text does not hold): its own hx-get
// redraws the list, and this script says the count and picks on Enter as for any other box, once
// the list for what is typed is in: the <select> names the search it lists in `data-listed-for`.
(function () {
  "use strict";
  if (window.eventCatalogOptionFilter) return;
  window.eventCatalogOptionFilter = true;

  const boxFor = (target) =>
    target instanceof HTMLInputElement && target.dataset.filters ? target : null;

  const itemsOf = (box) => Array.from(document.querySelectorAll(box.dataset.filters));

  const selectOf = (box) => {
    const first = document.querySelector(box.dataset.filters);
    return first instanceof HTMLOptionElement ? first.closest("select") : null;
  };

  const narrow = (box) => {
    const wanted = box.value.trim().toLowerCase();
    const items = itemsOf(box);
    const left = [];
    for (const item of items) {
      const option = item instanceof HTMLOptionElement;
      const blank = option && item.value === "";
      const matches = wanted === "" || (option ? item.text : item.textContent).toLowerCase().includes(wanted);
      // A select keeps its blank choice and its chosen option, so it still says what is chosen.
      const keep = matches || blank || (option && item.selected);
      item.hidden = !keep;
      if (option) item.disabled = !keep;
      if (matches && !blank) left.push(item);
    }
    const select = selectOf(box);
    const shows = (group) => items.some((item) => !item.hidden && group.contains(item));
    if (select) {
      for (const group of select.querySelectorAll("optgroup")) group.hidden = !shows(group);
    } else if (wanted !== "") {
      for (const group of new Set(items.map((item) => item.closest("details")))) {
        if (group) group.open = shows(group);
      }
    }
    say(box, left);
    return left;
  };

  // The options a server-searched list holds: neither its placeholder nor its "No event matches".
  const listed = (box) => itemsOf(box).filter((item) => item.value !== "" && !item.disabled);

  const say = (box, left) => {
    const status = document.getElementById(box.id + "-status");
    if (status) {
      const one = selectOf(box) ? "1 match: Enter picks it" : "1 match";
      status.textContent = box.value.trim() === "" ? "" : left.length === 1 ? one : `${left.length} matches`;
    }
    const none = document.getElementById(box.id + "-none");
    if (none) none.hidden = left.length > 0;
  };

  const pick = (select, option) => {
    select.value = option.value;
    select.dispatchEvent(new Event("input", { bubbles: true }));
    select.dispatchEvent(new Event("change", { bubbles: true }));
  };

  for (const kind of ["input", "search"]) {
    document.addEventListener(kind, (event) => {
      const box = boxFor(event.target);
      if (!box || "searched" in box.dataset) return;
      event.stopPropagation();
      narrow(box);
    }, true);
  }
  document.addEventListener("keydown", (event) => {
    const box = boxFor(event.target);
    if (!box) return;
    const select = selectOf(box);
    if (event.key === "Enter") {
      event.preventDefault();
      event.stopPropagation();
      if ("searched" in box.dataset) {
        // Pressed within the typing pause: the search under way is left to bring the list in.
        if (select && select.dataset.listedFor !== box.value) box.dataset.pickWhenListed = "";
        else pickOnly(box);
        return;
      }
      const left = narrow(box);
      if (select && left.length === 1) pick(select, left[0]);
    } else if (event.key === "ArrowDown" && select) {
      event.preventDefault();
      select.focus();
    }
  }, true);

  const pickOnly = (box) => {
    const left = listed(box);
    if (left.length === 1) pick(selectOf(box), left[0]);
  };

  document.addEventListener("htmx:afterSettle", (event) => {
    const box = boxFor((event.detail.requestConfig || {}).elt);
    const select = box && "searched" in box.dataset ? selectOf(box) : null;
    if (!select || select.dataset.listedFor !== box.value) return;
    say(box, listed(box));
    if ("pickWhenListed" in box.dataset) pickOnly(box);
    delete box.dataset.pickWhenListed;
  });

  const show = () => document.querySelectorAll("input[data-filters]").forEach((box) => { box.hidden = false; });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", show);
  else show();
})();
