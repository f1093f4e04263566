"""Helpers for the tester's tests: read the generated form's hidden fields and the panels' JSON."""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from analytics.collector import Collector
from webapp.extensions import db
from webapp.tester.models import TesterSend as SendRow

HTMX = {"HX-Request": "true"}


def hidden(page: str, name: str) -> str:
    """The value of a hidden input of the page."""
    match = re.search(rf'<input type="hidden" name="{re.escape(name)}" value="([^"]*)"', page)
    assert match, f"no hidden input {name}"
    return html.unescape(match.group(1))


def pre_json(page: str, element_id: str) -> str:
    """The exact text of a `<pre id=…>` panel, as copying it gives: unescaped, without its markup (each
    string is drawn in a `<bdi>`)."""
    match = re.search(rf'<pre class="json" id="{element_id}"[^>]*><code>(.*?)</code></pre>', page, re.S)
    assert match, f"no panel {element_id}"
    return html.unescape(re.sub(r"<[^>]*>", "", match.group(1)))


def received_url(page: str) -> str:
    """The URL a send's result panel loads the collector's copy from."""
    match = re.search(r'hx-get="([^"]*/received\?[^"]*)"', page)
    assert match, "the panel asks the collector for nothing"
    return html.unescape(match.group(1))


def error_slot(page: str, key: str) -> str:
    """The text next to a field (its error slot)."""
    dom = "error-f-" + key.replace(".", "-")
    match = re.search(rf'<p class="field-error" id="{re.escape(dom)}"[^>]*>(.*?)</p>', page, re.S)
    assert match, f"no error slot for {key}"
    return html.unescape(match.group(1)).strip()


def error_message(page: str) -> tuple[str, str]:
    """The field an error fragment names (empty when none) and its message."""
    match = re.search(r'<span data-error-message(?: data-field="([^"]*)")?>(.*?)</span>', page, re.S)
    assert match, "no error message"
    return html.unescape(match.group(1) or ""), html.unescape(match.group(2))


def input_value(page: str, key: str) -> str:
    """The value an input of the form shows."""
    dom = "f-" + key.replace(".", "-")
    match = re.search(rf'id="{re.escape(dom)}" name="{re.escape(key)}"[^>]*?value="([^"]*)"', page, re.S)
    assert match, f"no input {key}"
    return html.unescape(match.group(1))


class _FormReader(HTMLParser):
    """The values a browser would submit from the tester's form: its inputs, checked boxes, selected
    options and textareas' text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.values: dict[str, str] = {}
        self.inside = False
        self.control: tuple[str, str] | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.inside = a.get("id") == "tester-form"
        # A control belongs to the form it is inside, or to the one its `form` attribute names.
        if a.get("form", "tester-form" if self.inside else None) != "tester-form":
            return
        if tag == "input" and (a.get("type") not in ("checkbox", "radio") or "checked" in a):
            self.values[a["name"]] = a.get("value", "on" if a.get("type") == "checkbox" else "")
        elif tag in ("select", "textarea"):
            self.control, self.text = (tag, a["name"]), []
            self.values.setdefault(a["name"], "")
        elif tag == "option" and self.control and "selected" in a:
            self.values[self.control[1]] = a.get("value", "")

    def handle_data(self, data: str) -> None:
        if self.control and self.control[0] == "textarea":
            self.text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif self.control and tag == self.control[0]:
            if tag == "textarea":
                # A browser drops the one newline that follows <textarea>, as HTML's parsing rules say.
                self.values[self.control[1]] = "".join(self.text).removeprefix("\n")
            self.control = None


def form_values(page: str) -> dict[str, str]:
    """What the tester's form on a page submits, as a browser would send it."""
    reader = _FormReader()
    reader.feed(page)
    return reader.values


def form_fields(client: FlaskClient, spec_query: str) -> dict[str, str]:
    """The tester form's hidden state for a spec (CSRF token, form token, spec, mode)."""
    page = client.get(f"/tester/?{spec_query}").get_data(as_text=True)
    return {name: hidden(page, name) for name in ("csrf_token", "token", "spec", "mode")}


def send_form(
    client: FlaskClient, spec_query: str, values: dict[str, Any], *, htmx: bool = True
) -> tuple[int, str]:
    """Fill the tester form for a spec with `values` and press Send; returns (status, body)."""
    data = {**form_fields(client, spec_query), **values}
    response = client.post("/tester/send", data=data, headers=HTMX if htmx else {})
    return response.status_code, response.get_data(as_text=True)


def example_values(info: Any) -> dict[str, str]:
    """Form values from the catalog's examples for a spec (scope ids and own properties)."""
    values = {
        f"scope.{name}": str(field.examples[0])
        for name, field in info.scope.model_fields.items()
        if field.examples
    }
    for prop in info.properties:
        if prop.from_scope or prop.example is None:
            continue
        if isinstance(prop.example, bool):
            if prop.example:
                values[f"prop.{prop.name}"] = "on"
        elif isinstance(prop.example, list):
            values[f"prop.{prop.name}"] = "\n".join(prop.example)
        else:
            values[f"prop.{prop.name}"] = str(prop.example)
    return values


def as_panel(message: dict[str, Any]) -> str:
    """A message as the panels print it."""
    return json.dumps(message, indent=2, ensure_ascii=False, sort_keys=True)


def repeat_in_flight(
    app: Flask, collector: Collector, token: str, post: Callable[[], TestResponse]
) -> tuple[TestResponse, TestResponse]:
    """Post a send twice with one token, the second while the first waits on a slow collector.

    Returns (the first's answer, the repeat's answer); the repeat is made once the first has claimed
    its token and before it has its endpoint's answer.
    """

    def claimed() -> bool:
        with app.app_context():
            return db.session.scalar(select(SendRow).where(SendRow.form_token == token)) is not None

    collector.inject(latency=2)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(post)
        deadline = time.monotonic() + 10
        while not claimed() and time.monotonic() < deadline:
            time.sleep(0.02)
        repeat = post()
        assert not first.done(), "the first send finished before its repeat was made"
        return first.result(), repeat


def claim_send(app: Flask, message_id: str, token: str, *, claimed_ago: timedelta = timedelta(0)) -> None:
    """A tester send claimed by the admin (the `client` fixture's account) whose request has not
    recorded it: what a send looks like between its claim and its audit entry, or once its process
    stopped there."""
    with app.app_context():
        db.session.add(
            SendRow(
                message_id=message_id,
                form_token=token,
                actor="admin@example.com",
                created_at=datetime.now(UTC) - claimed_ago,
            )
        )
        db.session.commit()
