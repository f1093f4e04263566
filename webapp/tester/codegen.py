""" "Copy as Python" and "Copy as pytest": what was tried by hand, as code that does the same.

The snippets are generated from the validated spec instance, so they build exactly the message the
tester sent (except its `messageId` and `timestamp`). A test runs each snippet, so they cannot drift
from the library's API.
"""

from __future__ import annotations

import json
import re
from enum import Enum
from typing import Any

from analytics.messages import payload_of
from analytics.spec import IdentifySpec, TrackSpec

_WIDTH = 100


def _literal(value: Any, imports: dict[str, set[str]]) -> str:
    """Python source for a value; enum members by name, with their import recorded."""
    if isinstance(value, Enum):
        cls = type(value)
        imports.setdefault(cls.__module__, set()).add(cls.__name__)
        return f"{cls.__name__}.{value.name}"
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_literal(item, imports) for item in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{_literal(k, imports)}: {_literal(v, imports)}" for k, v in value.items())
        return "{" + items + "}"
    return repr(value)


def _call(spec: TrackSpec | IdentifySpec, imports: dict[str, set[str]]) -> list[str]:
    """The lines of the spec's constructor call, one argument per line."""
    cls, scope = type(spec), spec.scope
    imports.setdefault(cls.__module__, set()).add(cls.__name__)
    imports.setdefault(type(scope).__module__, set()).add(type(scope).__name__)
    scope_args = ", ".join(
        f"{name}={_literal(getattr(scope, name), imports)}" for name in type(scope).model_fields
    )
    lines = [f"{cls.__name__}(", f"    scope={type(scope).__name__}({scope_args}),"]
    for name in cls.own_fields():
        value = getattr(spec, name)
        if value is not None:
            lines.append(f"    {name}={_literal(value, imports)},")
    return [*lines, ")"]


def _imports(imports: dict[str, set[str]], first: list[str]) -> list[str]:
    modules = sorted(imports)
    lines = list(first)
    lines += [f"from {module} import {', '.join(sorted(imports[module]))}" for module in modules]
    return lines


def _indent(lines: list[str], by: str) -> list[str]:
    return [by + line if line else line for line in lines]


def python_snippet(spec: TrackSpec | IdentifySpec) -> str:
    """The application code that sends this spec through the library."""
    imports: dict[str, set[str]] = {}
    call = _call(spec, imports)
    function = "track" if isinstance(spec, TrackSpec) else "identify"
    # Pasted alone it would only log that init() was not called: say where the client comes from.
    setup = "# Once at start-up: analytics.init() (SEGMENT_WRITE_KEY, DATABASE_URL from the environment)"
    body = [setup, f"analytics.{function}(", *_indent(call, "    "), ")"]
    return "\n".join([*_imports(imports, ["import analytics"]), "", *body]) + "\n"


def _assertion(key: str, value: Any) -> list[str]:
    imports: dict[str, set[str]] = {}
    line = f"    assert message[{json.dumps(key)}] == {_literal(value, imports)}"
    if len(line) <= _WIDTH or not isinstance(value, dict):
        return [line]
    items = [f"        {_literal(k, imports)}: {_literal(v, imports)}," for k, v in value.items()]
    return [f"    assert message[{json.dumps(key)}] == {{", *items, "    }"]


def pytest_snippet(spec: TrackSpec | IdentifySpec, message: dict[str, Any]) -> str:
    """A test that builds the spec and asserts the message it becomes."""
    imports: dict[str, set[str]] = {"analytics.messages": {"build_message"}}
    call = _call(spec, imports)
    name = re.sub(r"(?<!^)(?=[A-Z])", "_", type(spec).__name__).lower()
    lines = [f"def test_{name}_message() -> None:", f"    spec = {call[0]}", *_indent(call[1:], "    ")]
    lines.append("    message = build_message(spec)")
    lines += _assertion("type", message["type"])
    if message["type"] == "track":
        lines += _assertion("event", message["event"])
    lines += _assertion("userId", message["userId"])
    lines += _assertion("properties" if message["type"] == "track" else "traits", payload_of(message))
    return "\n".join([*_imports(imports, []), "", "", *lines]) + "\n"
