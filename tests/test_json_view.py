"""Payload views: right-to-left text and direction controls cannot change how a message reads, copying
a block still gives its JSON, and the HTML stays escaped."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from analytics.audit import AuditStatus, AuditStore
from analytics.catalog import CATALOG
from analytics.messages import build_message
from webapp.json_view import SHOWN_ESCAPED, json_for_terminal, json_html, text_html

RTL = {"עיר": "תל אביב", "מספר": 42, "مدينة": "دبي ٢٠٢٦", "note": "ok"}
SPOOFED = {"stack_name": "stack \u202egnp.exe", "marks": "\u200e\u200f\u061c\u2066x\u2069", "empty": ""}


def _copied(shown: str) -> str:
    """What selecting the block and copying it gives: its text, without the markup."""
    return html.unescape(re.sub(r"<[^>]*>", "", shown))


def test_each_string_is_its_own_isolate_with_the_quotes_and_punctuation_outside() -> None:
    shown = json_html(json.dumps(RTL, indent=2, ensure_ascii=False))
    assert '"<bdi>עיר</bdi>": "<bdi>תל אביב</bdi>",' in shown
    assert '"<bdi>מספר</bdi>": 42,' in shown
    assert '"<bdi>note</bdi>": "<bdi>ok</bdi>"' in shown


def test_direction_controls_are_shown_as_named_escapes() -> None:
    shown = json_html(json.dumps(SPOOFED, ensure_ascii=False))
    assert not any(char in shown for char in "\u202e\u200e\u200f\u061c\u2066\u2069")
    assert (
        '<span class="bidi-control" title="U+202E RIGHT-TO-LEFT OVERRIDE: a direction control, shown as its '
        'escape">\\u202e</span>gnp.exe</bdi>",' in shown
    )
    assert 'title="U+061C ARABIC LETTER MARK: ' in shown
    assert '"<bdi>empty</bdi>": ""' in shown


@pytest.mark.parametrize(
    "value",
    [RTL, SPOOFED, {"quote \"'\\": ["a\nb", None, True, 1.5, {"<b>": "</bdi>"}]}, [], "just text", 7],
)
def test_copying_a_block_gives_json_for_the_same_value(value: Any) -> None:
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
    copied = _copied(json_html(text))
    assert json.loads(copied) == value
    # Only the direction controls read differently (as their escapes): everything else is the same text.
    assert copied == json_for_terminal(text)


def test_markup_in_a_payload_is_escaped_before_it_is_wrapped() -> None:
    hostile = {"</bdi><script>alert(1)</script>": '"><img src=x onerror=alert(1)> \u202e'}
    shown = json_html(json.dumps(hostile, ensure_ascii=False))
    assert "<script" not in shown and "<img" not in shown
    assert re.sub(r"<bdi>|</bdi>|<span [^>]*>|</span>", "", shown).count("<") == 0
    assert "&lt;/bdi&gt;&lt;script&gt;" in shown and "\\&#34;&gt;&lt;img" in shown


def test_a_block_cut_inside_a_string_is_still_isolated() -> None:
    assert (
        json_html('"תל אביב \u202e') == '"<bdi>תל אביב <span class="bidi-control" title="U+202E '
        'RIGHT-TO-LEFT OVERRIDE: a direction control, shown as its escape">\\u202e</span></bdi>'
    )
    assert json_html('{"a": "x\\') == '{"<bdi>a</bdi>": "<bdi>x</bdi>\\'


def test_a_plain_value_is_isolated_escaped_and_shows_its_controls() -> None:
    assert text_html("<i>\u202eab") == (
        '<bdi>&lt;i&gt;<span class="bidi-control" title="U+202E RIGHT-TO-LEFT OVERRIDE: a direction control, '
        'shown as its escape">\\u202e</span>ab</bdi>'
    )
    assert text_html(None) == "" and text_html("") == "" and text_html(7) == "<bdi>7</bdi>"


def test_send_prints_direction_controls_as_json_escapes(app: Flask, runner: FlaskCliRunner) -> None:
    args = ["send", "StackLaunchFailure", "--scope", "user=1,project=12,cluster=4", "--dry-run"]
    result = runner.invoke(
        args=[*args, "--prop", "stack_name=stack \u202egnp.exe", "--prop", "error_message=e"]
    )
    assert result.exit_code == 0, result.output
    assert '"stack_name": "stack \\u202egnp.exe"' in result.stdout and "\u202e" not in result.stdout
    assert json.loads(result.stdout)["properties"]["stack_name"] == "stack \u202egnp.exe"


def test_an_entry_page_shows_no_raw_direction_control(client: FlaskClient, sqlite_store: AuditStore) -> None:
    """Off-schema keys are named on the drift table too: isolated, controls as escapes, like the JSON."""
    info = CATALOG.event("StackLaunchFailure")
    scope = info.scope(user_id=1, project_id=12, cluster_id=4)
    message = build_message(info.spec(scope=scope, stack_name="stack \u202egnp.exe", error_message="e"))
    message["properties"].update({"עיר": "תל אביב", "key \u2067x": 1})
    sqlite_store.record(message, status=AuditStatus.DELIVERED, source="application")
    response = client.get(f"/audit/entries/{message['messageId']}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert not any(char in page for char in SHOWN_ESCAPED)
    table = page.split('class="drift-differences"')[1].split("</table>")[0]
    assert "<code><bdi>עיר</bdi></code>" in table
    assert '<code><bdi>key <span class="bidi-control" title="U+2067 RIGHT-TO-LEFT ISOLATE: ' in table
    assert '"<bdi>stack_name</bdi>": "<bdi>stack <span class="bidi-control"' in page
