"""The numeric, length and size bounds of a property's JSON Schema, readable and comparable.

A bound is part of what a property allows, as much as its allowed values are: tightening
`proj_id`'s maximum stops values a consumer may have filtered on, loosening it lets new ones in.
The catalog diff compares bounds to classify such changes, and the catalog shows them next to the
type. Patterns are left out: whether one regular expression allows less than another cannot be
decided in general.

    bounds = bounds_of({"type": "integer", "exclusiveMinimum": 0}, {})
    bounds.text                                   # "value ≥ 1"
    bounds_of({"type": "integer", "minimum": 1}, {}) == bounds   # True: the same integers
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from analytics.property_schema import value_schema

_VALUE, _LENGTH, _ITEMS = "value", "length", "items"
"""What each interval measures, as its text names it."""


@dataclass(frozen=True)
class Limit:
    """One end of an interval.

    Attributes:
        value: where it lies.
        exclusive: whether `value` itself is outside the interval.
    """

    value: float
    exclusive: bool = False


@dataclass(frozen=True)
class Interval:
    """What a bounded quantity (a number, a string's length, an array's size) may be.

    Attributes:
        measure: `value`, `length` or `items`.
        low: the lower end, or None when unbounded below.
        high: the upper end, or None when unbounded above.
    """

    measure: str
    low: Limit | None = None
    high: Limit | None = None

    def excludes_some_of(self, other: Interval) -> bool:
        """Whether `other` allows a quantity that this interval does not."""
        return _stricter_low(self.low, other.low) or _stricter_high(self.high, other.high)

    @property
    def text(self) -> str:
        """e.g. `value ≥ 1`, `1 ≤ value ≤ 31`, `length ≤ 200`; empty when unbounded."""
        if self.low and self.high:
            low, high = _sign(self.low, "<", "≤"), _sign(self.high, "<", "≤")
            return f"{_number(self.low.value)} {low} {self.measure} {high} {_number(self.high.value)}"
        if self.low:
            return f"{self.measure} {_sign(self.low, '>', '≥')} {_number(self.low.value)}"
        if self.high:
            return f"{self.measure} {_sign(self.high, '<', '≤')} {_number(self.high.value)}"
        return ""

    @property
    def ends(self) -> str:
        """The ends alone, e.g. `1 … 2⁶³−1`, for an integer written as something else (an id sent as
        text), where `value ≤ …` would compare text with a number. An integer's ends are inclusive."""
        low, high = (_number(end.value) if end else "" for end in (self.low, self.high))
        return f"{low} … {high}".strip()


@dataclass(frozen=True)
class Bounds:
    """Every bound of one property.

    Attributes:
        intervals: the bounded measures, in the order value, length, items; unbounded ones left out.
    """

    intervals: tuple[Interval, ...] = ()

    def _by_measure(self) -> dict[str, Interval]:
        return {interval.measure: interval for interval in self.intervals}

    def excludes_some_of(self, other: Bounds) -> bool:
        """Whether `other` allows something these bounds do not (so moving to these narrows)."""
        theirs = other._by_measure()
        return any(
            interval.excludes_some_of(theirs.get(interval.measure, Interval(interval.measure)))
            for interval in self.intervals
        )

    @property
    def text(self) -> str:
        """e.g. `1 ≤ value ≤ 31` or `length ≥ 1, items ≤ 5`; `no bounds` when there are none."""
        return ", ".join(interval.text for interval in self.intervals) or "no bounds"

    def __bool__(self) -> bool:
        return bool(self.intervals)


def _stricter_low(mine: Limit | None, theirs: Limit | None) -> bool:
    if mine is None:
        return False
    return theirs is None or (mine.value, mine.exclusive) > (theirs.value, theirs.exclusive)


def _stricter_high(mine: Limit | None, theirs: Limit | None) -> bool:
    if mine is None:
        return False
    return theirs is None or (mine.value, not mine.exclusive) < (theirs.value, not theirs.exclusive)


def _sign(limit: Limit, exclusive: str, inclusive: str) -> str:
    return exclusive if limit.exclusive else inclusive


_INT64_MAX = 2**63 - 1


def _number(value: float) -> str:
    # The largest 64-bit integer, every id's maximum (what databases and Segment's warehouses
    # store), reads as what it is rather than as nineteen digits nobody checks.
    if value == _INT64_MAX:
        return "2⁶³−1"
    return str(int(value)) if float(value).is_integer() else str(value)


def _value_interval(schema: dict[str, Any]) -> Interval:
    low = high = None
    if "minimum" in schema:
        low = Limit(schema["minimum"])
    if "exclusiveMinimum" in schema and (low is None or schema["exclusiveMinimum"] >= low.value):
        low = Limit(schema["exclusiveMinimum"], exclusive=True)
    if "maximum" in schema:
        high = Limit(schema["maximum"])
    if "exclusiveMaximum" in schema and (high is None or schema["exclusiveMaximum"] <= high.value):
        high = Limit(schema["exclusiveMaximum"], exclusive=True)
    if schema.get("type") == "integer":
        # Integers between the ends, so `> 0` and `≥ 1` read and compare as the same bound.
        if low is not None:
            low = Limit(math.floor(low.value) + 1 if low.exclusive else math.ceil(low.value))
        if high is not None:
            high = Limit(math.ceil(high.value) - 1 if high.exclusive else math.floor(high.value))
    return Interval(_VALUE, low, high)


def _count_interval(measure: str, schema: dict[str, Any], least: str, most: str) -> Interval:
    low = Limit(schema[least]) if schema.get(least) else None
    high = Limit(schema[most]) if most in schema else None
    return Interval(measure, low, high)


def bounds_of(schema: dict[str, Any], defs: dict[str, Any]) -> Bounds:
    """The bounds of a property's schema, through `$ref`s, a nullable `anyOf` and an array's items.

    Args:
        schema: the property's JSON Schema, as a spec's `json_schema()` has it.
        defs: the enclosing schema's `$defs`, for `$ref`s.

    Returns:
        The bounds; empty (falsy) when the schema sets none, or offers several types.
    """
    schema, _ = value_schema(schema, defs)
    intervals = [
        _value_interval(schema),
        _count_interval(_LENGTH, schema, "minLength", "maxLength"),
    ]
    if schema.get("type") == "array":
        intervals.append(_count_interval(_ITEMS, schema, "minItems", "maxItems"))
        intervals.extend(bounds_of(schema.get("items", {}), defs).intervals)
    return Bounds(tuple(interval for interval in intervals if interval.low or interval.high))


def pattern_of(schema: dict[str, Any], defs: dict[str, Any]) -> str | None:
    """The regular expression a string property (or an array's strings) must match, if any.

    Shown beside the bounds, but not compared by the diff (see the module docstring).
    """
    schema, _ = value_schema(schema, defs)
    if schema.get("type") == "array":
        return pattern_of(schema.get("items", {}), defs)
    pattern: str | None = schema.get("pattern")
    return pattern
