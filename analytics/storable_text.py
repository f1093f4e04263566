"""Text the audit log can store and Segment can carry, checked when a spec or scope is built.

Two kinds of text pass a `str` field and are then refused after `track` has returned, when the
message is written (in batched mode, off the caller's thread: the receipt already said `pending`):

- a NUL character (`\\u0000`), which PostgreSQL cannot hold in text;
- a surrogate code point (`\\ud800` to `\\udfff`), which is not Unicode text: UTF-8 cannot encode
  it, so no database and no JSON request can carry it. Python makes one from undecodable bytes
  (`surrogateescape`, `os.fsdecode`), or from a JSON `\\ud800` escape that pairs with nothing.

A number that is not finite (NaN, infinity) is refused the same way: JSON has none, PostgreSQL's
`jsonb` refuses it and pydantic sends one held in a free-form value as `null`. `check_json_value`
applies all of these to a property's whole value, and refuses what cannot be made JSON at all, and
keys that become the same text in JSON (`1` and `"1"`), of which only one value would be kept.
"""

from __future__ import annotations

import enum
import itertools
import json
import math
import operator
import re
import types
from collections.abc import Callable, Mapping
from typing import Any, Literal, NamedTuple, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import to_json, to_jsonable_python

from analytics.nested import has_serializer, model_dumps_fields_only

_SURROGATES = "\ud800-\udfff"

SURROGATE = re.compile(f"[{_SURROGATES}]")
"""A surrogate code point: what `check_storable` refuses, the CLI and the raw editor look for."""

_REFUSED_TEXT = re.compile(f"[\x00{_SURROGATES}]")
"""What `check_storable` refuses in text, a NUL or a surrogate, as one search: the rule itself, which
`check_storable` then explains and the typed checks apply to many texts at once."""


def check_storable(text: str) -> str:
    """Return the text, or refuse it where the audit log would lose the message later.

    Raises:
        ValueError: the text holds a NUL character or a surrogate code point, named as an escape.
    """
    if _REFUSED_TEXT.search(text) is None:
        return text
    if "\x00" in text:
        raise ValueError("text cannot contain a NUL character (\\u0000)")
    if surrogate := SURROGATE.search(text):
        raise ValueError(
            f"text cannot contain a surrogate code point (\\u{ord(surrogate.group()):04x}): it is not "
            "Unicode text, and can be neither stored nor sent (was it decoded with surrogateescape?)"
        )
    return text


def check_json_value(value: Any) -> Any:
    """Return a value as JSON data, or refuse one no message can carry or the audit log would refuse,
    at any depth.

    Checked when a spec is built, so that `track` cannot fail later: a value typed `Any` (a
    `dict[str, Any]` property, as `event-catalog import` writes for a free-form object) or held by a
    nested model is seen by no other check, and it raised from `track` (bytes that are not UTF-8, an
    object pydantic cannot serialise, a dict holding itself, one nested thousands deep) or was lost
    after an `ok` receipt (a NUL in a nested field or a dict key). Text, whole numbers and None, the
    common case, cost no conversion. A spec keeps its own values; a host's `context=` is sent as the
    data returned.

    Raises:
        ValueError: the value cannot be made JSON (pydantic's reason), it holds text
            `check_storable` refuses (keys included) or a number that is not finite, or two keys of
            one object that become the same text, named by where.
    """
    if isinstance(value, str):
        return check_storable(value)
    if value is None or isinstance(value, int):
        return value
    return checked_json(value).data


class CheckedJson(NamedTuple):
    """A value made JSON data by `checked_json`, and the size of the JSON text the checks wrote of it.

    Attributes:
        data: the value as JSON data.
        size: the UTF-8 length of the data's compact JSON text, as pydantic wrote it (`to_json`);
            None when pydantic could not write it and the checks walked the data instead.
    """

    data: Any
    size: int | None


def checked_json(value: Any) -> CheckedJson:
    """`check_json_value` for a value that is not text, a whole number or None, with the size of the
    JSON text its checks wrote: a caller that bounds the size of a message holding the data reads it
    instead of encoding the data again (the host's `context=`, `analytics.client.may_be_oversized`).

    Raises:
        ValueError: as `check_json_value`.
    """
    try:
        data = to_jsonable_python(value)
    except ValueError as exc:  # pydantic's serialisation error, invalid UTF-8, a cycle, too deep
        raise ValueError(f"cannot be sent as JSON: {exc}") from None
    encoded = _encoded(data)
    found = None if _plainly_storable(encoded) else unstorable_in(data)
    if found is None and _may_have_lost_keys(value, data, encoded):
        found = _colliding_keys(value)
    if found:
        path, problem = found
        raise ValueError(f"at {'.'.join(map(str, path))}: {problem}" if path else problem)
    return CheckedJson(data, None if encoded is None else len(encoded))


_SUSPECT = re.compile(rb"\\u0000|(?:^|[:,\[])-?(?:NaN|Infinity)")
"""What JSON text holding a NUL or a number that is not finite shows: an escaped NUL, or `NaN` or
`Infinity` where a value starts (compact JSON has no space after `:`, `,` or `[`). Text shows it only
where it holds the same characters (`"a,NaN"`), not merely the word (a product named "Infinity")."""


def _encoded(data: Any) -> bytes | None:
    """JSON data's text, made in pydantic's own code; None when it cannot be (a surrogate). It is given
    plain data, not models: a model's own settings write a NaN as `null`, which its message then holds
    as NaN."""
    try:
        return to_json(data, inf_nan_mode="constants")
    except ValueError:
        return None


def _plainly_storable(encoded: bytes | None) -> bool:
    """Whether JSON data's text (`_encoded`) shows none of `_SUSPECT`: then no walk is needed. Walking
    every nested value in Python cost a nested spec several times its whole build; data that has no
    text (a surrogate) or looks suspect is walked. The words come first: the regex, which tries each
    position, cost a host's usual `context=` (some 200 bytes) 4 us, most of its check; finding none
    of its three words costs a sixth of that."""
    if encoded is None:
        return False
    if b"NaN" not in encoded and b"Infinity" not in encoded and b"\\u0000" not in encoded:
        return True
    return _SUSPECT.search(encoded) is None


def _may_have_lost_keys(value: Any, data: Any, encoded: bytes | None) -> bool:
    """Whether making `value` JSON data may have merged two of its keys, checked in pydantic's own code:
    the value's own JSON text writes both keys (`{"1":"a","1":"b"}`), the data's only the one kept.
    A generator, which making the data used up, differs too; `_colliding_keys` then finds nothing.
    Data equal to the value (plain JSON data, as a host's `context=` usually is) lost no key, since
    a merge leaves a mapping fewer keys, and its text is not written a second time."""
    try:
        if encoded is None:
            return True
        return data != value and len(to_json(value, inf_nan_mode="constants")) != len(encoded)
    except ValueError:
        return True


def _colliding_keys(value: Any) -> tuple[tuple[str | int, ...], str] | None:
    """Where two keys of one mapping become the same text in JSON (`1` and `"1"`, `(1, 2)` and
    `"1,2"`), at any depth, and which: making the data keeps the last one's value only.

    Returns:
        None when no keys collide; else the keys and indexes (as JSON names them) that lead to the
        first mapping where some do, and a sentence naming them.
    """
    pending: list[tuple[tuple[str | int, ...], Any]] = [((), value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, Mapping):
            named: dict[str, Any] = {}
            for key in item:
                text = next(iter(to_jsonable_python({key: None})))
                if text in named:
                    both = f"keys {named[text]!r} and {key!r} both become {json.dumps(text)} in JSON"
                    return path, f"{both}: one value would be lost"
                named[text] = key
            pending.extend(((*path, text), child) for text, child in zip(named, item.values(), strict=True))
        elif isinstance(item, list | tuple | set | frozenset):
            pending.extend(((*path, index), child) for index, child in enumerate(item))
    return None


def check_typed_value(value: Any, check: TypedCheck) -> Any:
    """Return a value of a declared type, or refuse it as `check_json_value` does, given the check
    `typed_check` made for its type: only its text and floats are read.

    Raises:
        ValueError: as `check_json_value`, naming where.
    """
    try:
        passed = check([value])
    except (AttributeError, TypeError):  # a nested model made by `model_construct`, unchecked
        passed = False
    if not passed:
        check_json_value(value)  # says where
        raise ValueError("holds text or a number no message can carry")
    return value


TypedCheck = Callable[[list[Any]], bool]
"""Whether all of some values of one declared type can be carried (`typed_check`)."""


def typed_check(annotation: Any) -> TypedCheck | None:
    """A check of the values of a field's declared type, or None for a type not known here (a mapping,
    `Any`, a model with serializers or extra keys…), whose values `check_json_value` makes JSON whole.

    pydantic made such a value of its declared types, so only its text (NUL, surrogates) and floats
    (NaN, infinity) can be refused. The check reads them a field at a time across all the values it
    is given (the `sku` of 500 lines, then their `price`), in C loops (`map`, `str.join`, one regex
    search), and never reads whole numbers, booleans or enum members: serialising a spec's 500 typed
    lines at every build to look for them cost some 25 times the build itself.
    """
    if annotation is None or annotation is type(None):
        return _nothing
    origin, arguments = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        present = [argument for argument in arguments if argument is not type(None)]
        inner = typed_check(present[0]) if len(present) == 1 else None
        return None if inner is None else _without_none(inner)
    if origin in (list, tuple, set, frozenset):
        items = [argument for argument in arguments if argument is not Ellipsis]
        checks = [typed_check(argument) for argument in items]
        if not checks or None in checks:
            return None
        return _of_items([check for check in checks if check is not None])
    if origin is Literal:
        return _nothing
    if not isinstance(annotation, type):
        return None
    if issubclass(annotation, enum.Enum) or annotation is bool or annotation is int:
        return _nothing
    if annotation is str:
        return _texts
    if annotation is float:
        return _floats
    if issubclass(annotation, BaseModel):
        return _model_check(annotation)
    return None


def _model_check(model: type[BaseModel]) -> TypedCheck | None:
    """A model's check: each of its fields' across the models given; None if one has none."""
    if not model_dumps_fields_only(model):
        return None
    fields: list[tuple[Callable[[Any], Any], TypedCheck]] = []
    for name, field in model.model_fields.items():
        if has_serializer(field.metadata):
            return None
        check = typed_check(field.annotation)
        if check is None:
            return None
        if check is not _nothing:
            fields.append((operator.attrgetter(name), check))
    if not fields:
        return _nothing
    return lambda models: all(check(list(map(get, models))) for get, check in fields)


def _nothing(values: list[Any]) -> bool:
    return True


def _texts(values: list[Any]) -> bool:
    return _REFUSED_TEXT.search("".join(values)) is None


def _floats(values: list[Any]) -> bool:
    return all(map(math.isfinite, values))


def _without_none(check: TypedCheck) -> TypedCheck:
    return lambda values: check([value for value in values if value is not None])


def _of_items(checks: list[TypedCheck]) -> TypedCheck:
    # A tuple's items may be of several types: each check reads those of its type only when there is
    # one, else every item (`tuple[float, ...]`, `list[str]`).
    if len(checks) == 1:
        return lambda values: checks[0](list(itertools.chain.from_iterable(values)))
    return lambda values: all(check([item[index] for item in values]) for index, check in enumerate(checks))


def unstorable_in(value: Any) -> tuple[tuple[str | int, ...], str] | None:
    """Where a JSON value holds text `check_storable` refuses, keys included, or a number that is not
    finite, at any depth, and why.

    Off-schema properties (the tester's raw JSON, the API's `off_schema`) skip the spec's own check:
    without this one a `\\ud800` escape reached the audit log, which refused the message after the
    dry run had passed it.

    Returns:
        None when every text is storable and every number finite; else the keys and indexes that
        lead to the first refused text or number, and why. A refused key is reported at its object,
        named as JSON escapes it (it cannot be shown as it is): `the key "\\ud800": text cannot
        contain …`.
    """
    pending: list[tuple[tuple[str | int, ...], Any]] = [((), value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, str):
            try:
                check_storable(item)
            except ValueError as exc:
                return path, str(exc)
        elif isinstance(item, dict):
            for key in item:
                try:
                    check_storable(key)
                except ValueError as exc:
                    return path, f"the key {json.dumps(key)}: {exc}"
            pending.extend(((*path, key), child) for key, child in reversed(item.items()))
        elif isinstance(item, float) and not math.isfinite(item):
            return path, f"a number must be finite, not {item} (JSON has no NaN or Infinity)"
        elif isinstance(item, list):
            pending.extend(((*path, index), child) for index, child in reversed(list(enumerate(item))))
    return None
