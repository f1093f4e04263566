"""Browser tests: the real app on a free port in a thread, driven in Debian's Chromium.

`page` is signed in as an admin through the real sign-in form; `anonymous_page` is not.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect, sync_playwright

from webapp.auth.roles import Role

CHROMIUM = "/usr/bin/chromium"
# Without these, Chromium reaches for Google's services at start, which this closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# What an assertion waits for the page to show (Playwright's default is 5 s): a form's live check is a
# debounced request and a redraw, which a CI machine busy with the rest of the suite has taken longer
# than 5 s to answer. A page that never shows it still fails, 10 s later.
expect.set_options(timeout=10_000)

# How Chromium reports a blocked inline script, style or foreign resource on the console.
_CSP_VIOLATION = "Content Security Policy"


@pytest.fixture
def live_server(app: Flask, serve: Callable[[Flask], str]) -> str:
    """Serve the app on 127.0.0.1 and a free port until the test ends."""
    return serve(app)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the whole run."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _sign_in(page: Page, base_url: str, email: str, password: str) -> None:
    form = page.context.request.get(f"{base_url}/login")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form.text())
    assert token is not None, form.text()
    answer = page.context.request.post(
        f"{base_url}/login",
        form={"csrf_token": token.group(1), "email": email, "password": password},
        max_redirects=0,
    )
    assert answer.status == 303, answer.text()


@pytest.fixture
def anonymous_page(browser: Browser) -> Iterator[Page]:
    """A fresh page, signed in as no one, that fails the test on any script error or CSP violation."""
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console", lambda message: errors.append(message.text) if _CSP_VIOLATION in message.text else None
    )
    yield page
    context.close()
    assert errors == [], errors


@pytest.fixture
def sign_in(live_server: str, account_password: str) -> Callable[[Page, str], None]:
    """Sign a page in as an account from `make_account`, by posting the real sign-in form.

    Posted from the page's browser context (which then holds the session) rather than by driving
    the form, so a test's own first page load starts with a cold cache; test_access_flow.py drives
    the form itself.
    """
    return lambda page, email: _sign_in(page, live_server, email, account_password)


@pytest.fixture
def page(
    anonymous_page: Page, sign_in: Callable[[Page, str], None], make_account: Callable[..., str]
) -> Page:
    """A fresh page signed in as an admin, who may open every page."""
    sign_in(anonymous_page, make_account(Role.ADMIN))
    return anonymous_page
