"""JSON as the tester shows a message, in its panels and on the command line: one canonical form.

The copies of a message differ only in key order (the Segment client rebuilds the dict,
PostgreSQL's JSONB reorders keys), so every copy is printed with its keys sorted: equal messages
then read the same, byte for byte, on a page or in a CI log.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def pretty_json(value: Any) -> str:
    """JSON as every copy is shown: keys sorted, two-space indented, non-ASCII as itself."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def message_digest(message: dict[str, Any]) -> str:
    """A message's fingerprint in the canonical form: how a copy is compared with what was sent."""
    return hashlib.sha256(pretty_json(message).encode()).hexdigest()
