"""Refuse text that no field can store: a NUL character in a query string, a form or the address.

PostgreSQL cannot hold one in a text column, or even compare one in a query, so a NUL typed (or
pasted, or forged) into any field would reach the database and come back as a 500; SQLite would
store it and every later reader would trip over it. One check in front of every view answers 400
instead, before anything is read or written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, request
from werkzeug.exceptions import BadRequest, NotFound

NUL = "\x00"
_QUERY_CHECKED = "query_checked_by_its_form"
V = TypeVar("V", bound=Callable[..., Any])


def holds_nul(value: object) -> bool:
    """Whether a value (text, or JSON's lists and objects, keys included) holds a NUL character."""
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(holds_nul(key) or holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(holds_nul(item) for item in value)
    return False


class NulInField(BadRequest):
    """A NUL in a query-string or form field: the 400 names the field (`field`), so that a form's
    script can show the refusal next to it, and says what is wrong with it (`problem`) for a
    download's one line per field. Its words name the field as the person knows it: the tester's
    `prop.email` and `scope.app_name` are `email` and `app_name`, as the message names them."""

    problem = "holds a NUL character (\\u0000), which cannot be stored."

    def __init__(self, field: str) -> None:
        super().__init__(f"The field {field.rpartition('.')[2]!r} {self.problem}")
        self.field = field


def query_checked_by_its_form(view: V) -> V:
    """Mark a search page whose form refuses a NUL in its query next to the field, as it refuses any
    other unusable value (`analytics.queries.parse_filters`): the check in front of every view
    answered such a search with a bare 400 page, the form and the other filters gone. The check still
    covers the page's form fields and its address."""
    setattr(view, _QUERY_CHECKED, True)
    return view


def refuse_nul_characters() -> None:
    """`before_request`: a 400 for a NUL in any query-string or form field, name or value, and a 404
    for one in the address itself (an entry's or a send's id): no page has such a name."""
    if NUL in request.path:
        raise NotFound("No page has a NUL character (\\u0000) in its address.")
    view = current_app.view_functions.get(request.endpoint or "")
    checked_by_form = getattr(view, _QUERY_CHECKED, False)
    for fields in (request.form,) if checked_by_form else (request.args, request.form):
        for name, values in fields.lists():
            if holds_nul(name) or holds_nul(values):
                raise NulInField(name.replace(NUL, ""))


def init_app(app: Flask) -> None:
    """Check every request before its view runs."""
    app.before_request(refuse_nul_characters)
