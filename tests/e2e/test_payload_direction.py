"""An entry holding right-to-left text and a direction control, as Chromium lays it out: each key reads
before its value, the control shows as its escape, and the block's text is still the message's JSON."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from analytics.audit import AuditStatus, AuditStore
from analytics.catalog import CATALOG
from analytics.messages import build_message

pytestmark = pytest.mark.e2e

OFF_SCHEMA = {"עיר": "תל אביב", "מספר": 42, "مدينة": "دبي ٢٠٢٦"}
SPOOFED = "stack \u202egnp.exe"

# Where a piece of the block's text is drawn: the box of its characters, found through its text nodes.
_BOX_OF = """([text, after]) => {
  const block = document.querySelector("section[aria-labelledby=message-heading] pre");
  const whole = block.textContent;
  const start = whole.indexOf(text, after ? whole.indexOf(after) : 0);
  if (start < 0) return null;
  const range = document.createRange();
  const walker = document.createTreeWalker(block, NodeFilter.SHOW_TEXT);
  let seen = 0;
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const size = node.textContent.length;
    if (seen <= start && start < seen + size) range.setStart(node, start - seen);
    if (seen < start + text.length && start + text.length <= seen + size) {
      range.setEnd(node, start + text.length - seen);
      break;
    }
    seen += size;
  }
  const box = range.getBoundingClientRect();
  return {left: box.left, right: box.right, top: box.top};
}"""


def _entry_with_rtl_text(store: AuditStore) -> str:
    """An off-schema tester send as the audit log stores it: Hebrew and Arabic keys, a spoofed name."""
    info = CATALOG.event("StackLaunchFailure")
    scope = info.scope(user_id=1, project_id=12, cluster_id=4)
    message = build_message(info.spec(scope=scope, stack_name=SPOOFED, error_message="שגיאה 502"))
    message["properties"].update(OFF_SCHEMA)
    store.record(message, status=AuditStatus.DELIVERED, source="tester", actor="ada@example.com")
    return str(message["messageId"])


def _box(page: Page, text: str, after: str | None = None) -> dict[str, float]:
    box: dict[str, float] | None = page.evaluate(_BOX_OF, [text, after])
    assert box is not None, text
    return box


def test_right_to_left_keys_read_before_their_values(
    live_server: str, page: Page, sqlite_store: AuditStore
) -> None:
    message_id = _entry_with_rtl_text(sqlite_store)
    page.goto(f"{live_server}/audit/entries/{message_id}")
    block = page.get_by_role("region", name="Message, as JSON")
    expect(block).to_be_visible()

    for key, value in [("עיר", "תל אביב"), ("מספר", "42"), ("مدينة", "دبي ٢٠٢٦")]:
        key_box, value_box = _box(page, f'{key}"'), _box(page, value, after=key)
        assert key_box["top"] == value_box["top"], (key, key_box, value_box)
        assert key_box["right"] < value_box["left"], (key, key_box, value_box)

    # The override is drawn as its escape and cannot move what follows it: the closing quote and comma
    # stay after the value, on its right.
    control = block.locator(".bidi-control")
    expect(control).to_have_text("\\u202e")
    expect(control).to_have_attribute(
        "title", "U+202E RIGHT-TO-LEFT OVERRIDE: a direction control, shown as its escape"
    )
    assert _box(page, "gnp.exe")["right"] <= _box(page, '",', after="gnp.exe")["left"]

    # What the copy button and a selection take: the block's text, JSON of the stored message.
    copied: Any = page.evaluate("(block) => JSON.parse(block.textContent)", block.element_handle())
    assert copied["properties"] == {
        "stack_name": SPOOFED,
        "error_message": "שגיאה 502",
        "proj_id": 12,
        "cluster_id": 4,
        **OFF_SCHEMA,
    }
