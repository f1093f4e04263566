"""What browser tests share beyond their fixtures."""

from __future__ import annotations

from playwright.sync_api import Dialog, Locator, Page, expect


def dismiss_then_accept(page: Page) -> list[str]:
    """Answer the page's confirmation dialogs: dismiss the first, accept the others. Returns the
    list their messages are added to, for the test to read."""
    asked: list[str] = []

    def answer(dialog: Dialog) -> None:
        asked.append(dialog.message)
        if len(asked) == 1:
            dialog.dismiss()
        else:
            dialog.accept()

    page.on("dialog", answer)
    return asked


def wait_until_htmx_has(page: Page, selector: str) -> None:
    """Wait until htmx has taken over the element `selector` finds (on load, or when its swap settles).

    Typing into a form before that types into plain HTML: no request follows, and the page seems
    to ignore the input. Polled from here: `wait_for_function` evaluates its string inside the
    page, which the dashboard's CSP forbids.
    """
    check = f"document.querySelector({selector!r})?.['htmx-internal-data'] !== undefined"
    for _ in range(250):
        if page.evaluate(check):
            return
        page.wait_for_timeout(20)
    raise AssertionError(f"htmx did not take {selector} over")


def raw_editor_with_example(page: Page, url: str, filled: str) -> Locator:
    """The tester at `url`, filled with the example (`filled` is a field that then holds a value),
    switched to its Raw JSON editor: the editor, visible."""
    page.goto(url)
    page.get_by_role("button", name="Fill with example").click()
    expect(page.locator(filled)).not_to_have_value("")
    page.get_by_role("link", name="Raw JSON").click()
    raw = page.locator("#f-raw")
    expect(raw).to_be_visible()
    return raw


PICKER_CHROME = 30
"""What Chromium adds around a picker's text: its padding and arrow (a picker sized to its widest
option measured that much wider than the text)."""


def picker_room(page: Page, selector: str) -> tuple[float, float, str]:
    """A `<select>`'s width, and its widest option's text width in the picker's own font and that text:
    a label wider than the room minus `PICKER_CHROME` is cut, whichever option is picked."""
    room, widest, label = page.locator(selector).evaluate(
        """select => {
            const context = document.createElement("canvas").getContext("2d");
            context.font = getComputedStyle(select).font;
            const widths = Array.from(
                select.options, option => [context.measureText(option.text).width, option.text]
            );
            widths.sort((a, b) => b[0] - a[0]);
            return [select.clientWidth, widths[0][0], widths[0][1]];
        }"""
    )
    return room, widest, label
