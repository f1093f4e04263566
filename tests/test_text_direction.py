"""Free-text inputs take their direction from what is typed (`dir="auto"`): Arabic or Hebrew typed into
the tester's fields, the preset name or the audit search ran in a left-to-right box, its digits and
punctuation out of place. Numbers and JSON stay left to right."""

from __future__ import annotations

from html.parser import HTMLParser

from flask.testing import FlaskClient


class _Controls(HTMLParser):
    """Every input and textarea of a page, by its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("input", "textarea"):
            self.controls.append((tag, dict(attrs)))


def _controls(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Controls()
    parser.feed(page)
    return parser.controls


def test_the_tester_s_text_fields_and_preset_name_take_the_direction_of_their_text(
    client: FlaskClient,
) -> None:
    page = client.get("/tester/?event=StackLaunchFailure").get_data(as_text=True)
    controls = _controls(page)
    texts = [attrs for tag, attrs in controls if tag == "input" and attrs.get("type", "text") == "text"]
    assert {"f-preset_name"} < {attrs["id"] for attrs in texts}
    assert any(attrs["name"] == "prop.stack_name" for attrs in texts), [a["name"] for a in texts]
    assert all(attrs.get("dir") == "auto" for attrs in texts), [
        a["id"] for a in texts if a.get("dir") != "auto"
    ]
    numbers = [attrs for tag, attrs in controls if tag == "input" and attrs.get("type") == "number"]
    assert numbers and not any("dir" in attrs for attrs in numbers)


def test_the_audit_search_s_text_fields_take_the_direction_of_their_text(client: FlaskClient) -> None:
    page = client.get("/audit/").get_data(as_text=True)
    searches = [attrs for tag, attrs in _controls(page) if tag == "input" and attrs.get("type") == "search"]
    assert {"filter-prop", "filter-actor"} <= {attrs["id"] for attrs in searches}
    assert all(attrs.get("dir") == "auto" for attrs in searches)
