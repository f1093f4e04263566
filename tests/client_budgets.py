"""Small budgets for a test's library client: the defaults retry for hours, a test needs an answer in
seconds. A plain module (not conftest) so that tests can import it: see tests/spies.py."""

from __future__ import annotations

from typing import Any

FAST_BUDGETS: dict[str, Any] = {
    "upload_interval": 0.05,
    "max_retries": 1,
    "timeout": 2,
    "max_total_backoff_duration": 5,
}
