"""The Python that sends a catalog entry's example, for engineers reading the catalog page.

Rendered from the spec's examples rather than written by hand, so it cannot drift from the code:
the tests run every snippet.
"""

from __future__ import annotations

import json
from enum import Enum
from typing import Any

from analytics.catalog import SpecInfo
from analytics.spec import TrackSpec


def _literal(value: Any, imports: dict[str, set[str]]) -> str:
    """Python source for an example value; enum members by name, imported from their module."""
    if isinstance(value, Enum):
        imports.setdefault(type(value).__module__, set()).add(type(value).__name__)
        return f"{type(value).__name__}.{value.name}"
    if isinstance(value, str):
        # Double quotes, as the code it is pasted into is formatted (ruff, black); JSON's escapes
        # are Python's.
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def python_snippet(info: SpecInfo) -> str:
    """Source that builds the entry's example spec and sends it through the default client."""
    spec = info.example_spec()
    scope = spec.scope
    imports: dict[str, set[str]] = {
        type(scope).__module__: {type(scope).__name__},
        type(spec).__module__: {type(spec).__name__},
    }
    scope_args = ", ".join(
        f"{name}={_literal(getattr(scope, name), imports)}" for name in type(scope).model_fields
    )
    arguments = [f"scope={type(scope).__name__}({scope_args})"]
    arguments += [
        f"{name}={_literal(getattr(spec, name), imports)}"
        for name in spec.own_fields()
        if getattr(spec, name) is not None
    ]
    call = "track" if isinstance(spec, TrackSpec) else "identify"
    lines = ["import analytics"]
    lines += [f"from {module} import {', '.join(sorted(names))}" for module, names in sorted(imports.items())]
    lines += ["", "# After analytics.init() at start-up:", f"receipt = analytics.{call}("]
    lines += [f"    {type(spec).__name__}("]
    lines += [f"        {argument}," for argument in arguments]
    lines += ["    )", ")", "# receipt.ok is False when it was not sent; receipt.error says why."]
    return "\n".join(lines) + "\n"
