"""Python source for a spec and its values, laid out as ruff formats it: the code engineers paste.

The catalog's "Send it from Python" and the tester's "Copy as Python" / "Copy as pytest" are
generated, not written by hand, so they cannot drift from the specs: every value is written as the
code that builds it (an enum member by name, a nested model as its constructor, lists and dicts as
displays) with every class it names imported, and laid out as `ruff format` lays it out at its
default width, so that pasting it changes nothing the formatter would change back. The tests run
the snippets and `ruff format --check` them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

from pydantic import BaseModel

from analytics.spec import IdentifySpec, TrackSpec

WIDTH = 88
"""ruff's (and black's) default line length: the code is pasted into projects of every setting."""

_INDENT = 4

Imports = dict[str, set[str]]
"""The names a snippet imports, by module."""


@dataclass(frozen=True)
class Atom:
    """Source that no line break can go into: a name, a number, a string."""

    text: str


@dataclass(frozen=True)
class Group:
    """Source between brackets: a call's arguments, or a list's or a dict's items.

    Attributes:
        opening: the text up to the opening bracket (`LineItem(`, `[`, `{`).
        closing: the closing bracket.
        items: each item, as its prefix (`sku=`, `"sku": `, or nothing) and its value.
        display: a list or dict display, whose items go one per line once the brackets are split
            (a call's arguments first try one line of their own).
        exploded: one item per line even where all would fit on one: a magic trailing comma keeps
            them so.
    """

    opening: str
    closing: str
    items: tuple[tuple[str, Source], ...]
    display: bool = False
    exploded: bool = False


Source = Atom | Group


def _name(cls: type, imports: Imports) -> str:
    """How the source names a class, recording its import (a nested class through its outer one)."""
    outer = cls.__qualname__.split(".")[0]
    imports.setdefault(cls.__module__, set()).add(outer)
    return cls.__qualname__


def _keyword(model: type[BaseModel], name: str) -> str:
    """The constructor keyword of a model's field: its alias, when it has one that is a name."""
    alias = model.model_fields[name].alias
    return alias if alias is not None and alias.isidentifier() else name


def literal(value: Any, imports: Imports) -> Source:
    """The source of a value: enum members by name, models as their constructor (fields left None
    out, as messages leave them out), lists and dicts as displays; the classes it names are imported.
    """
    if isinstance(value, Enum):
        return Atom(f"{_name(type(value), imports)}.{value.name}")
    if isinstance(value, BaseModel):
        return call(value, imports)
    if isinstance(value, bool) or value is None:
        return Atom(repr(value))
    if isinstance(value, str):
        return Atom(string(value))
    if isinstance(value, list | tuple | set | frozenset):
        # A spec's tuple or set field takes a list as well: one display for every collection.
        return Group("[", "]", tuple(("", literal(item, imports)) for item in value), display=True)
    if isinstance(value, dict):
        items = tuple(
            (f"{flat(literal(key, imports))}: ", literal(item, imports)) for key, item in value.items()
        )
        return Group("{", "}", items, display=True)
    return Atom(repr(value))


def _escaped_if_hidden(found: re.Match[str]) -> str:
    char = found.group()
    if char.isprintable():
        return char
    code = ord(char)
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def string(text: str) -> str:
    """A string literal as ruff writes it: in double quotes, unless the text holds more double quotes
    than single ones (fewer escapes); JSON's escapes are Python's. A character that does not print
    (a direction control, a zero-width space) is written as its escape, so the code reads as it runs."""
    # JSON escapes the controls below 0x20 itself; DEL (0x7f) and everything above ASCII are left to us.
    escaped = re.sub(r"[^\x00-\x7e]", _escaped_if_hidden, json.dumps(text, ensure_ascii=False))
    if text.count('"') <= text.count("'"):
        return escaped
    # In single quotes, a double quote needs no escape and a single quote needs one.
    body = re.sub(
        r"\\.|'", lambda found: {'\\"': '"', "'": "\\'"}.get(found.group(), found.group()), escaped[1:-1]
    )
    return f"'{body}'"


def call(model: BaseModel, imports: Imports, *, exploded: bool = False) -> Group:
    """A model's constructor call with each field that is not None (a required one even then)."""
    cls = type(model)
    items = tuple(
        (f"{_keyword(cls, name)}=", literal(getattr(model, name), imports))
        for name, field in cls.model_fields.items()
        if getattr(model, name) is not None or field.is_required()
    )
    return Group(f"{_name(cls, imports)}(", ")", items, exploded=exploded)


def spec_call(spec: TrackSpec | IdentifySpec, imports: Imports) -> Group:
    """The spec's constructor call, one argument per line: its scope, then each property not None."""
    return call(spec, imports, exploded=True)


def flat(source: Source) -> str:
    """The source on one line."""
    if isinstance(source, Atom):
        return source.text
    return source.opening + ", ".join(prefix + flat(value) for prefix, value in source.items) + source.closing


def lay_out(source: Source, *, indent: int = 0, prefix: str = "", suffix: str = "") -> list[str]:
    """The lines of `prefix`, the source and `suffix` at an indent, as ruff formats them.

    On one line when it fits; else the brackets are split (ruff's "right-hand split"): a single
    item goes on a line of its own, laid out in turn; several go on one line of their own when they
    are a call's arguments and fit, else one per line with a trailing comma.
    """
    pad = " " * indent
    one_line = pad + prefix + flat(source) + suffix
    if isinstance(source, Atom) or not source.items or (_flat_fits(source) and len(one_line) <= WIDTH):
        return [one_line]
    inner = indent + _INDENT
    if len(source.items) == 1 and not source.exploded:
        [(item_prefix, value)] = source.items
        body = lay_out(value, indent=inner, prefix=item_prefix)
    else:
        body = _items(source, inner)
    return [pad + prefix + source.opening, *body, pad + source.closing + suffix]


def _items(source: Group, indent: int) -> list[str]:
    """A split group's items: a call's arguments on one line when they fit, else one per line."""
    line = " " * indent + ", ".join(prefix + flat(value) for prefix, value in source.items)
    if not source.display and _flat_fits(source) and len(line) <= WIDTH:
        return [line]
    return [
        text
        for prefix, value in source.items
        for text in lay_out(value, indent=indent, prefix=prefix, suffix=",")
    ]


def _flat_fits(source: Source) -> bool:
    """Whether the source may go on one line at all: none of it is kept one item per line."""
    if isinstance(source, Atom):
        return True
    return not source.exploded and all(_flat_fits(value) for _, value in source.items)


def import_lines(imports: Imports) -> list[str]:
    """`from module import …` for each module, sorted; one name per line when they do not fit."""
    lines = []
    for module in sorted(imports):
        names = sorted(imports[module])
        line = f"from {module} import {', '.join(names)}"
        if len(line) <= WIDTH:
            lines.append(line)
        else:
            lines += [f"from {module} import (", *(f"    {name}," for name in names), ")"]
    return lines
