"""What browser tests share beyond their fixtures."""

from __future__ import annotations

from playwright.sync_api import Dialog, Page


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
