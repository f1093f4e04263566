"""What the `count_calls` fixture (conftest) records, importable by the tests that annotate it.

Not in conftest: `from conftest import …` resolves to whichever conftest pytest imported first
(tests/e2e has its own), so shared names live in plain modules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Call:
    """One call a `count_calls` spy saw, with the arguments as its caller passed them."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]


CountCalls = Callable[[object, str], list[Call]]
