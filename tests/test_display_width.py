"""Terminal columns of text in any script."""

from __future__ import annotations

import pytest

from webapp.display_width import display_width, pad


@pytest.mark.parametrize(
    "text, width",
    [
        ("ci", 2),
        ("東京", 4),
        ("CI 東京", 7),
        ("ｱ", 1),
        ("cafe\u0301", 4),
        ("🚀", 2),
        ("👩\u200d💻", 4),
        ("", 0),
    ],
)
def test_the_width_is_the_terminal_s(text: str, width: int) -> None:
    assert display_width(text) == width


def test_padding_reaches_the_columns_not_the_characters() -> None:
    assert pad("東京", 6) == "東京  "
    assert pad("cafe\u0301", 5) == "cafe\u0301 "
    assert pad("too long", 3) == "too long"
