"""JSON as the standard defines it, read within bounds: one reader for every JSON that comes in.

Python's `json` reader takes more than JSON, and trusts its input's shape:

- NaN and Infinity, which no reader downstream takes: SQLite's JSON functions would refuse the
  stored entry, Segment the message. A number too large for a float (`1e400`) is read as Infinity
  too, and is refused the same way.
- integers longer than `sys.get_int_max_str_digits()`, which it refuses with advice about Python's
  own settings rather than about the input.
- any nesting: it recurses once per array or object, so a few thousand `[` (a 1 MB body holds half a
  million) end in a RecursionError, not a ValueError, and a value nested a few hundred levels deep
  breaks the next reader that walks it recursively (the NUL check, the preview, `json.dumps`).
- an object that names a key twice, of which it keeps the last value without a word. The standard
  leaves such an object's meaning open (RFC 8259 §4: names SHOULD be unique) and readers disagree on
  which value counts, so what was checked need not be what is stored or sent: it is refused, at any
  depth, naming the key.

The tester (form, API, command line), the collector and `event-catalog diff` read JSON through
`load_json`, so each refuses the same input in the same words; only the collector takes a repeated
key (`unique_keys=False`), since Segment, which it stands in for, documents no refusal of one.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

MAX_DEPTH = 100
"""How deeply arrays and objects may nest. Real properties nest a few levels; 100 leaves room for any
of them inside a message, and stays far below Python's recursion limit (1,000 frames), which every
reader that walks a value recursively shares with the frames already below it."""

_CONTAINERS = (dict, list)


class DuplicateKey(ValueError):
    """A JSON object that names the same key more than once."""

    def __init__(self, key: str) -> None:
        super().__init__(f"the key {json.dumps(key, ensure_ascii=False)} appears twice in one object")
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object from its pairs (json's `object_pairs_hook`, called for every object, nested ones too).

    Raises:
        DuplicateKey: a key comes twice; the first one to repeat is named.
    """
    built = dict(pairs)
    if len(built) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
    return built


class TooDeep(ValueError):
    """JSON whose arrays and objects nest more deeply than the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"nested too deeply (the limit is {limit} levels of arrays and objects)")
        self.limit = limit


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (JSON has no NaN or Infinity)")


def _finite_number(text: str) -> float:
    """A number with a fraction or an exponent; `float` reads one past its range as Infinity."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large a number to hold (JSON has no NaN or Infinity)")
    return value


def _whole_number(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > sys.get_int_max_str_digits():
        raise ValueError(f"a number of {digits:,} digits is too long to hold")
    return int(text)


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether a parsed value's arrays and objects nest more than `limit` levels, one level at a time
    (no recursion; a tenth of the cost of counting brackets in the text, which matters to the
    collector's 500 KB batches)."""
    level = [value] if type(value) in _CONTAINERS else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        level = [
            child
            for item in level
            for child in (item.values() if type(item) is dict else item)
            if type(child) in _CONTAINERS
        ]
    return False


def load_json(text: str | bytes, max_depth: int = MAX_DEPTH, *, unique_keys: bool = True) -> Any:
    """Read JSON as the standard defines it, nested at most `max_depth` levels.

    Args:
        text: the JSON; bytes are decoded as `json.loads` decodes them (UTF-8, -16 or -32).
        max_depth: how deeply arrays and objects may nest.
        unique_keys: refuse an object that names a key twice; False keeps the last value, for a
            reader that must take what another server takes (the collector, standing in for Segment).

    Raises:
        TooDeep: nested more deeply than `max_depth` (a ValueError).
        DuplicateKey: an object names a key twice (a ValueError).
        ValueError: not JSON (`json.JSONDecodeError`, with its position, for a syntax error).
    """
    if isinstance(text, bytes):
        text = text.decode(json.detect_encoding(text), "surrogatepass")
    try:
        value = json.loads(
            text,
            parse_constant=_not_json,
            parse_float=_finite_number,
            parse_int=_whole_number,
            object_pairs_hook=_unique_keys if unique_keys else None,
        )
    except RecursionError:
        # Python's reader recurses once per level: far past the limit, it runs out of stack first.
        raise TooDeep(max_depth) from None
    if _deeper_than(value, max_depth):
        raise TooDeep(max_depth)
    return value
