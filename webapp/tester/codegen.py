""" "Copy as Python" and "Copy as pytest": what was tried by hand, as code that does the same.

The snippets are generated from the validated spec instance, so they build exactly the message the
tester sent (except its `messageId` and `timestamp`), written and laid out as the catalog's own
snippet is (`analytics.python_source`). A test runs each snippet, so they cannot drift from the
library's API.
"""

from __future__ import annotations

import json
import re
from typing import Any

from analytics.messages import payload_of
from analytics.python_source import Group, Imports, import_lines, lay_out, literal, spec_call
from analytics.spec import IdentifySpec, TrackSpec


def python_snippet(spec: TrackSpec | IdentifySpec) -> str:
    """The application code that sends this spec through the library."""
    imports: Imports = {}
    function = "track" if isinstance(spec, TrackSpec) else "identify"
    send = Group(f"analytics.{function}(", ")", (("", spec_call(spec, imports)),))
    # Pasted alone it would only log that init() was not called: say where the client comes from.
    setup = "# Once at start-up: analytics.init() (SEGMENT_WRITE_KEY, DATABASE_URL from the environment)"
    return "\n".join(["import analytics", *import_lines(imports), "", setup, *lay_out(send)]) + "\n"


def _assertion(key: str, value: Any) -> list[str]:
    return lay_out(literal(value, {}), indent=4, prefix=f"assert message[{json.dumps(key)}] == ")


def pytest_snippet(spec: TrackSpec | IdentifySpec, message: dict[str, Any]) -> str:
    """A test that builds the spec and asserts the message it becomes."""
    imports: Imports = {"analytics.messages": {"build_message"}}
    name = re.sub(r"(?<!^)(?=[A-Z])", "_", type(spec).__name__).lower()
    lines = [
        f"def test_{name}_message() -> None:",
        *lay_out(spec_call(spec, imports), indent=4, prefix="spec = "),
    ]
    lines.append("    message = build_message(spec)")
    lines += _assertion("type", message["type"])
    if message["type"] == "track":
        lines += _assertion("event", message["event"])
    lines += _assertion("userId", message["userId"])
    lines += _assertion("properties" if message["type"] == "track" else "traits", payload_of(message))
    return "\n".join([*import_lines(imports), "", "", *lines]) + "\n"
