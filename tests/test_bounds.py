"""Property bounds: read through refs, nullables and arrays; equal when they allow the same values."""

from __future__ import annotations

from typing import Any

import pytest

from analytics.bounds import bounds_of, pattern_of


@pytest.mark.parametrize(
    ("schema", "text"),
    [
        ({"type": "integer", "exclusiveMinimum": 0}, "value ≥ 1"),
        ({"type": "integer", "minimum": 1, "exclusiveMaximum": 32}, "1 ≤ value ≤ 31"),
        ({"type": "number", "exclusiveMinimum": 0, "maximum": 1.5}, "0 < value ≤ 1.5"),
        ({"type": "number", "exclusiveMaximum": 100}, "value < 100"),
        ({"type": "string", "minLength": 1, "maxLength": 64}, "1 ≤ length ≤ 64"),
        ({"type": "string", "minLength": 0}, "no bounds"),
        ({"type": "string", "pattern": "^a$"}, "no bounds"),
        (
            {"type": "array", "minItems": 1, "items": {"type": "integer", "maximum": 9}},
            "items ≥ 1, value ≤ 9",
        ),
        ({"anyOf": [{"type": "integer", "minimum": 2}, {"type": "null"}]}, "value ≥ 2"),
        ({"anyOf": [{"type": "integer", "minimum": 2}, {"type": "string"}]}, "no bounds"),
        ({"$ref": "#/$defs/Day"}, "1 ≤ value ≤ 31"),
    ],
)
def test_bounds_read_as_text(schema: dict[str, Any], text: str) -> None:
    defs = {"Day": {"type": "integer", "minimum": 1, "maximum": 31}}
    assert bounds_of(schema, defs).text == text


@pytest.mark.parametrize(
    ("schema", "ends"),
    [
        ({"type": "integer", "exclusiveMinimum": 0, "maximum": 2**63 - 1}, "1 … 2⁶³−1"),
        ({"type": "integer", "minimum": 1}, "1 …"),
        ({"type": "integer", "exclusiveMaximum": 32}, "… 31"),
    ],
)
def test_an_integer_s_ends_read_alone(schema: dict[str, Any], ends: str) -> None:
    """For an id sent as text, which `value ≤ 2⁶³−1` would compare with a number."""
    assert bounds_of(schema, {}).intervals[0].ends == ends


def test_two_spellings_of_the_same_integers_are_equal_and_neither_narrows() -> None:
    positive = bounds_of({"type": "integer", "exclusiveMinimum": 0}, {})
    at_least_one = bounds_of({"type": "integer", "minimum": 1}, {})
    assert positive == at_least_one
    assert not positive.excludes_some_of(at_least_one) and not at_least_one.excludes_some_of(positive)


@pytest.mark.parametrize(
    ("old", "new", "narrows", "widens"),
    [
        ({"minimum": 1}, {"minimum": 1, "maximum": 10}, True, False),
        ({"minimum": 1, "maximum": 10}, {}, False, True),
        ({"minimum": 1, "maximum": 10}, {"minimum": 5, "maximum": 20}, True, True),
        ({"minimum": 0}, {"exclusiveMinimum": 0}, True, False),
        ({"exclusiveMaximum": 1}, {"maximum": 1}, False, True),
    ],
)
def test_narrowing_and_widening_of_numbers(
    old: dict[str, Any], new: dict[str, Any], narrows: bool, widens: bool
) -> None:
    before, after = bounds_of({"type": "number", **old}, {}), bounds_of({"type": "number", **new}, {})
    assert after.excludes_some_of(before) is narrows
    assert before.excludes_some_of(after) is widens


def test_a_pattern_is_read_through_nullables_and_arrays() -> None:
    digits = {"type": "string", "pattern": r"^\d{12}$"}
    assert pattern_of(digits, {}) == r"^\d{12}$"
    assert pattern_of({"anyOf": [digits, {"type": "null"}]}, {}) == r"^\d{12}$"
    assert (
        pattern_of({"type": "array", "items": {"$ref": "#/$defs/Account"}}, {"Account": digits})
        == r"^\d{12}$"
    )
    assert pattern_of({"type": "string"}, {}) is None
