"""Personal data an entry holds in clear because it was recorded before today's catalog marked it.

Application hosts deploy on their own schedule: one still running the previous catalog version, where
`email` was not yet `personal_data=True`, records the email in clear, as does every entry recorded
before the change. A stored entry never changes (its chain hash covers it), so a reader without
personal-data access gets such a value masked when the entry is read: every property value that
today's catalog marks personal data (by the spec, or by its key's name where no spec declares the
key, as `analytics.catalog.personal_paths` decides on writing) and that is stored in clear is masked
as the library would have masked it, with the same keyed fingerprint (`AUDIT_MASK_KEY`), so that a
search by the value finds the entry as it finds the others.

A viewer's export passes through `remask` every entry the database selects (`needs_remask`: a
superset of those it changes), so it masks exactly what the entry page masks, and streams the rest as
stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import Boolean, ColumnElement, String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from analytics.audit import MESSAGE_TYPES, AuditEntry
from analytics.catalog import CATALOG, SpecInfo, declared_fields, named_personal_paths, personal_paths
from analytics.nested import ANY_KEY
from analytics.payload_drift import spec_of
from analytics.personal_data import is_mask, mask_paths, mask_value, masked_keys, personal_section


@dataclass(frozen=True)
class Remasked:
    """A stored payload as a reader without personal-data access gets it.

    Attributes:
        payload: the stored payload, or a copy with the values in `in_clear` masked.
        in_clear: the paths (in the properties, or an identify's traits) of the values stored in clear
            that today's catalog marks personal data; empty when the stored payload needs no mask.
    """

    payload: dict[str, Any]
    in_clear: tuple[str, ...]


def remask(payload: dict[str, Any], mask_key: bytes) -> Remasked:
    """The payload with every value today's catalog marks personal data masked, however it was stored."""
    if payload.get("type") not in MESSAGE_TYPES:
        # The log's own records (actions, maintenance) are no catalog message: they name accounts.
        return Remasked(payload, ())
    section = personal_section(payload)
    values = payload.get(section)
    if not isinstance(values, dict) or not values:
        return Remasked(payload, ())
    info = spec_of(payload)
    paths = personal_paths(info.spec, values) if info is not None else named_personal_paths(values)
    if not paths:
        return Remasked(payload, ())
    masked = mask_paths(values, paths, lambda value: value if is_mask(value) else mask_value(value, mask_key))
    in_clear = sorted(set(masked_keys(masked)) - set(masked_keys(values)))
    if not in_clear:
        return Remasked(payload, ())
    return Remasked({**payload, section: masked}, tuple(in_clear))


@dataclass(frozen=True)
class _Plain:
    """What an entry of one spec must hold for `remask` to leave it as it is, read off the spec's
    fields (`analytics.catalog.personal_paths`): only keys the spec declares, at `personal` a mask
    (or nothing), and no object or array to walk into but at a key vouched free of personal data.

    Attributes:
        section: where the spec's messages keep their values (`properties`, `traits`).
        declared: the keys the spec declares at the top of them.
        personal: the declared keys today's catalog masks whole.
        vouched: the declared keys `remask` never walks into (`personal_data=False`, nothing personal
            below them).
    """

    section: str
    declared: tuple[str, ...]
    personal: tuple[str, ...]
    vouched: tuple[str, ...]


def _plain(info: SpecInfo) -> _Plain | None:
    """The spec's `_Plain`; None when any key may be personal data (a free-form top level)."""
    tree, paths = declared_fields(info.spec), personal_paths(info.spec, {})
    if ANY_KEY in tree.fields or any(path == ANY_KEY or path.startswith(f"{ANY_KEY}.") for path in paths):
        return None
    declared = sorted(key for key, node in tree.fields.items() if node.here)
    deeper = {key for key in declared for path in paths if path.startswith(f"{key}.")}
    vouched = [key for key in declared if tree.fields[key].vouched and key not in deeper and key not in paths]
    section = "properties" if info.kind == "track" else "traits"
    return _Plain(section, tuple(declared), tuple(sorted(set(paths) & set(declared))), tuple(vouched))


def _by_marker(infos: Iterable[SpecInfo], lookup: Callable[[str], SpecInfo]) -> dict[str, SpecInfo]:
    """The specs a catalog marker's text finds (`analytics.payload_drift.spec_for`), by that text."""
    found: dict[str, SpecInfo] = {}
    for info in infos:
        for name in (info.name, info.constant):
            found.setdefault(name, lookup(name))
    return found


class _NeedsRemask(FunctionElement[bool]):
    """`needs_remask`, compiled from today's catalog each time (`inherit_cache = False`): a spec
    registered since (the tests' foreign specs) changes it."""

    type = Boolean()
    inherit_cache = False


def needs_remask() -> ColumnElement[bool]:
    """Which entries a viewer's export passes through `remask`, in SQL: a superset of those it changes.

    An entry is left out only when the database can tell from its payload that `remask` would return
    it as stored: a catalog message whose event (or identify spec) today's catalog places
    (`analytics.payload_drift.spec_of`), whose values hold only keys the spec declares, a mask (or
    nothing) at each key the spec marks personal data, and no object or array that `remask` would walk
    for undeclared keys named like personal data. Anything else is selected: an event outside today's
    catalog (whose keys only their names judge, which SQL cannot), a free-form spec, an undeclared key,
    a value in clear. The log's own records (actions, maintenance) are no catalog message and never
    selected. `tests/test_remask_selection.py` holds it to `remask` entry by entry on both databases.
    """
    table = AuditEntry.__table__
    # The entry's `event` column is the message's event string, written with it (`AuditStore.record`).
    return _NeedsRemask(table.c.type, table.c.event, table.c.payload)


_MASK_REGEX = "^masked:[0-9a-f]{16}$"
_MASK_GLOB = "masked:" + "[0-9a-f]" * 16
_CONTAINER_PATH = 'strict $.* ? (@.type() == "object" || @.type() == "array")'


def _quoted(compiler: SQLCompiler, text: str) -> str:
    return str(compiler.render_literal_value(text, String()))


def _listed(compiler: SQLCompiler, names: Iterable[str]) -> str:
    return ", ".join(_quoted(compiler, name) for name in names)


def _postgresql_plain(compiler: SQLCompiler, payload: str, plain: _Plain | None) -> str:
    """Operators that walk the stored JSONB in C: a jsonpath `keyvalue()` filter, which says it in one
    walk, builds an object per member and took four times as long (~15 us an entry)."""
    if plain is None:
        return "false"
    values = f"({payload} -> {_quoted(compiler, plain.section)})"
    checks = [f"({values} - ARRAY[{_listed(compiler, plain.declared)}]::text[]) = '{{}}'::jsonb"]
    for key in map(partial(_quoted, compiler), plain.personal):
        checks.append(f"COALESCE(({values} ->> {key}) ~ '{_MASK_REGEX}', NOT jsonb_exists({values}, {key}))")
    walked = f"({values} - ARRAY[{_listed(compiler, plain.vouched)}]::text[])" if plain.vouched else values
    checks.append(f"NOT jsonb_path_exists({walked}, '{_CONTAINER_PATH}')")
    # CASE first: PostgreSQL may evaluate an AND's terms in any order, and `-` fails on a scalar;
    # values that are no object `remask` leaves as they are.
    return f"(CASE WHEN jsonb_typeof({values}) = 'object' THEN {' AND '.join(checks)} ELSE true END)"


def _sqlite_plain(compiler: SQLCompiler, payload: str, plain: _Plain | None) -> str:
    if plain is None:
        return "0"
    section = _quoted(compiler, f"$.{plain.section}")
    found = [f"key NOT IN ({_listed(compiler, plain.declared)})"]
    if plain.personal:
        personal = _listed(compiler, plain.personal)
        found.append(f"(key IN ({personal}) AND NOT (type = 'text' AND atom GLOB '{_MASK_GLOB}'))")
    walked = f" AND key NOT IN ({_listed(compiler, plain.vouched)})" if plain.vouched else ""
    found.append(f"(type IN ('object', 'array'){walked})")
    return f"(NOT EXISTS (SELECT 1 FROM json_each({payload}, {section}) WHERE {' OR '.join(found)}))"


def _case(compiler: SQLCompiler, subject: str, branches: dict[str, str], otherwise: str) -> str:
    whens = " ".join(f"WHEN {_quoted(compiler, name)} THEN {then}" for name, then in branches.items())
    return f"CASE {subject} {whens} ELSE {otherwise} END" if whens else otherwise


def _compile(element: _NeedsRemask, compiler: SQLCompiler, dialect: str, **kw: Any) -> str:
    """The condition as `dialect` spells it: per placed spec, whether the entry is plain (`_Plain`)."""
    kind, event, payload = (compiler.process(clause, **kw) for clause in element.clauses)
    plain = _postgresql_plain if dialect == "postgresql" else _sqlite_plain
    marker = (_POSTGRESQL_MARKER if dialect == "postgresql" else _SQLITE_MARKER).format(payload)
    false = "false" if dialect == "postgresql" else "0"
    rules = {info.spec: _plain(info) for info in (*CATALOG.events.values(), *CATALOG.identifiers.values())}

    def cases(specs: dict[str, SpecInfo]) -> dict[str, str]:
        return {name: plain(compiler, payload, rules[info.spec]) for name, info in specs.items()}

    by_marker = _case(compiler, marker, cases(_by_marker(CATALOG.events.values(), CATALOG.event)), false)
    track = _case(compiler, event, cases(dict(CATALOG.events)), by_marker)
    identifiers = _by_marker(CATALOG.identifiers.values(), CATALOG.identifier)
    identify = _case(compiler, marker, cases(identifiers), false)
    placed = f"CASE WHEN {kind} = 'track' THEN {track} ELSE {identify} END"
    types = _listed(compiler, MESSAGE_TYPES)
    return f"({kind} IN ({types}) AND NOT COALESCE({placed}, {false}))"


# The catalog marker's spec, only when a JSON string names it, as `analytics.export_sql.spec_text`.
_POSTGRESQL_MARKER = (
    "CASE WHEN jsonb_typeof({0} #> '{{context,eventCatalog,spec}}') = 'string' "
    "THEN {0} #>> '{{context,eventCatalog,spec}}' END"
)
_SQLITE_MARKER = (
    "CASE WHEN json_type({0}, '$.context.eventCatalog.spec') = 'text' "
    "THEN json_extract({0}, '$.context.eventCatalog.spec') END"
)

compiles(_NeedsRemask, "postgresql")(partial(_compile, dialect="postgresql"))
compiles(_NeedsRemask, "sqlite")(partial(_compile, dialect="sqlite"))
