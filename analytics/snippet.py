"""The Python that sends a catalog entry's example, for engineers reading the catalog page.

Rendered from the spec's examples rather than written by hand, so it cannot drift from the code:
the tests run every snippet, and check that ruff's formatter would leave it as it is.
"""

from __future__ import annotations

from analytics.catalog import SpecInfo
from analytics.python_source import Group, Imports, import_lines, lay_out, spec_call
from analytics.spec import TrackSpec


def python_snippet(info: SpecInfo) -> str:
    """Source that builds the entry's example spec and sends it through the default client."""
    spec = info.example_spec()
    imports: Imports = {}
    call = "track" if isinstance(spec, TrackSpec) else "identify"
    send = Group(f"analytics.{call}(", ")", (("", spec_call(spec, imports)),))
    lines = ["import analytics", *import_lines(imports), "", "# After analytics.init() at start-up:"]
    lines += lay_out(send, prefix="receipt = ")
    lines += ["# receipt.ok is False when it was not sent; receipt.error says why."]
    return "\n".join(lines) + "\n"
