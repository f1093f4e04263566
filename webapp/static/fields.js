// Keeps aria-invalid in step with the error slots htmx fills out of band: after a partial update a
// field with an error is announced as invalid (and one corrected as valid), as after a full load.
(function () {
  "use strict";

  function hasError(id) {
    var slot = document.getElementById(id);
    return slot !== null && slot.classList.contains("field-error") && slot.textContent.trim() !== "";
  }

  function sync() {
    document.querySelectorAll("input[aria-describedby], select[aria-describedby], textarea[aria-describedby], fieldset[aria-describedby]")
      .forEach(function (field) {
        var invalid = field.getAttribute("aria-describedby").split(/\s+/).some(hasError);
        if (invalid) {
          field.setAttribute("aria-invalid", "true");
        } else {
          field.removeAttribute("aria-invalid");
        }
      });
  }

  document.addEventListener("htmx:afterSettle", sync);
})();
