// "Copy" buttons: `data-copy` names the element whose text the button copies (a field's value, a block's
// text), `data-copy-status` the page's status region that says it was copied: a button's new text is not
// read, so "Copied" replaces its visible word only (`.copy-word`; its name goes on to say what it copied).
// Without the clipboard API (plain http off localhost) the text is selected instead, for Ctrl+C. Used by the
// tester's snippets and by the secrets a page shows once (a new API token, a password reset link).
(function () {
  "use strict";
  if (window.eventCatalogCopy) return;
  window.eventCatalogCopy = true;

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-copy]");
    if (!button) return;
    const source = document.getElementById(button.dataset.copy);
    if (!source) return;
    const field = source instanceof HTMLInputElement || source instanceof HTMLTextAreaElement;
    const done = () => {
      const word = button.querySelector(".copy-word");
      if (word) word.textContent = "Copied";
      const status = document.getElementById(button.dataset.copyStatus);
      if (status) status.textContent = `${button.textContent}.`;
    };
    const select = () => (field ? source.select() : selectText(source));
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field ? source.value : source.textContent).then(done, select);
    } else {
      select();
    }
  });

  function selectText(element) {
    const range = document.createRange();
    range.selectNodeContents(element);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
})();
