"""A CSV tracking plan read as spec drafts, for `event-catalog import`.

The columns are those `event-catalog export --format csv` writes (`analytics.exports.CSV_COLUMNS`),
so an export read back gives the catalog it came from: one row per event and property, the
event's columns on each row (or only on its first: a row whose `event` is empty continues the one
above, as spreadsheets are often filled in), `type` as the catalog writes it (`string`, `array of
integer`, `object`), `allowed_values` separated by ` | `, `bounds` as the catalog writes them
(`1 ≤ value ≤ 31`, `length ≥ 1`, `items ≤ 5`) and examples as JSON (text as it is). A property
the scope adds (`added_by_scope` = yes) comes from the scope, not from the spec. A nested field
may have its own row, named by its path (`payment_method.kind`, `line_items[].sku`). The cells
the export guarded against spreadsheet formulas (a leading `'`) are read without the guard. Cells may
be separated by `;` or a tab too, as a spreadsheet saves CSV in a comma-decimal language.

A plan typed into a spreadsheet rather than exported uses that spreadsheet's words, which are read
too rather than left to `Any`: its usual headers (`Event Name`, `Data Type`, `Required?`:
`COLUMN_ALIASES`), type words (`int`, `double`, `bool`: `TYPE_ALIASES`; `datetime`: text whose
format a spec does not check, `DATE_FORMATS`) and ASCII bounds (`0 <= value <= 100`; `>= 1` and
`1-31` for a number).
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

from analytics.exports import CSV_COLUMNS
from analytics.scopes import MAX_ID
from analytics.spec_drafts import (
    DraftBuilder,
    ModelDraft,
    PlanError,
    PropertyDraft,
    SpecDraft,
    TypeDraft,
    example_problem,
    is_free_form_draft,
    made_up_example,
    personal_by_name,
    scalar,
    settle_scope,
    singular,
    unusable_name,
)
from analytics.spreadsheet import FORMULA_STARTS
from analytics.wording import counted

REQUIRED_COLUMNS = ("event", "property", "type")
"""The columns without which a file is not a tracking plan (the others may be left out)."""

COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "event": ("Event Name",),
    "property": ("Property Name", "Prop"),
    "type": ("Data Type", "Property Type", "Value Type"),
    "required": ("Required?", "Is Required", "Mandatory"),
    "allowed_values": ("Enum", "Enum Values", "Possible Values"),
    "example": ("Examples", "Example Value", "Example Values"),
    "property_description": ("Description",),
    "personal_data": ("PII",),
}
"""The other names a spreadsheet gives the export's columns, matched in any case with spaces and
punctuation aside (`Required?` is `required`). A lone `Description` is the property's, as a sheet
of one row per property means it."""


def _key(name: str) -> str:
    """A header as compared: in lower case, each run of spaces and punctuation one `_`."""
    return re.sub(r"[\W_]+", "_", name.strip().lower()).strip("_")


_ALIASES = {_key(alias): column for column, aliases in COLUMN_ALIASES.items() for alias in aliases}

_EVENT_COLUMNS = CSV_COLUMNS[1 : CSV_COLUMNS.index("property")]
"""The event's own columns, which a row with an empty `event` takes from the event above."""

_SCALARS = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "any": "Any"}

TYPE_ALIASES = {
    **{word: "integer" for word in ("int", "long")},
    **{word: "number" for word in ("float", "double", "decimal")},
    **{word: "string" for word in ("str", "text")},
    "bool": "boolean",
}
"""A spreadsheet's words for the catalog's types (in any case, and in the plural after `array of`)."""

DATE_FORMATS = {"date": "date", "datetime": "date-time", "timestamp": "date-time"}
"""Types that are text of a JSON Schema `format`, which a spec does not check (as the Segment import
says of a `format`): imported as `str`, with a note naming the format."""

_LISTS = ("array", "list")
_NUMBER = r"-?[0-9.]+(?:e[-+]?[0-9]+)?|2⁶³−1"
_TWO_ENDS = re.compile(rf"^({_NUMBER}) (<|≤) (value|length|items) (<|≤) ({_NUMBER})$")
_ONE_END = re.compile(rf"^(value|length|items) (<|≤|>|≥) ({_NUMBER})$")
_NO_MEASURE = re.compile(rf"^(<|≤|>|≥) ({_NUMBER})$")
_RANGE = re.compile(rf"^({_NUMBER}) ?(?:-|–|\.\.|to) ?({_NUMBER})$")
_SIGNS = re.compile(r"\s*(<=|>=|=<|=>|<|>|≤|≥)\s*")
_ASCII_SIGNS = {"<=": "≤", "=<": "≤", ">=": "≥", "=>": "≥"}
_BOUND_ARGS = {
    ("value", "<", "high"): "lt",
    ("value", "≤", "high"): "le",
    ("value", "<", "low"): "gt",
    ("value", "≤", "low"): "ge",
}


def _column(name: str) -> str:
    """A header cell as the export's column it names: `Event Name` → `event`, `Required?` → `required`."""
    key = _key(name)
    return _ALIASES.get(key, key)


def _accepted(column: str) -> str:
    """A column with the names it is found by, for the error that says it is missing."""
    names = [f'"{name}"' for name in (column, *COLUMN_ALIASES.get(column, ()))]
    return f"{column} ({', '.join(names[:-1])} or {names[-1]})" if len(names) > 1 else column


def _unguarded(cell: str | None) -> str:
    """A cell as written before the export's formula guard (`'=…` → `=…`)."""
    text = cell or ""
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_STARTS) else text


@dataclass
class _Event:
    row: int
    cells: dict[str, str]
    properties: list[dict[str, str]] = field(default_factory=list)


DELIMITERS = (",", ";", "\t")
"""The separators a plan's cells may have: `,`; `;`, which spreadsheets write in the languages whose
decimal separator is a comma (a German Excel's "CSV"); a tab, for text copied out of a spreadsheet."""


def delimiter(text: str) -> str:
    """The separator of a plan's cells: the first of `DELIMITERS` that splits its header line into the
    required columns, else `,` (whose header then says which columns are missing)."""
    first = text.partition("\n")[0]
    for candidate in DELIMITERS:
        header = {_column(name) for row in csv.reader([first], delimiter=candidate) for name in row}
        if header.issuperset(REQUIRED_COLUMNS):
            return candidate
    return ","


_QUOTE_ERRORS = ("unexpected end of data", "expected after")
"""Words of the csv module's errors on a quote out of place, which are followed by `_QUOTE_RULE`."""

_QUOTE_RULE = (
    'a cell that starts with a quote ends with one, and a quote inside it is written twice: "5"" screen"'
)


def _rows(text: str) -> list[list[str]]:
    """The file's rows, read strictly: read leniently, a quote left open swallowed every cell after
    it into one (`"My Event,amount,integer` became an event of that name), without a word.

    Raises:
        PlanError: a quote out of place, naming the line its row starts on.
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter(text), strict=True)
    rows: list[list[str]] = []
    start = 1
    try:
        for row in reader:
            rows.append(row)
            start = reader.line_num + 1
    except csv.Error as exc:
        quoting = any(words in str(exc) for words in _QUOTE_ERRORS)
        rule = f" ({_QUOTE_RULE})" if quoting else ""
        raise PlanError(f"not CSV: line {start}: {exc}{rule}") from exc
    return rows


def _events(text: str, builder: DraftBuilder) -> list[_Event]:
    """The plan's events with their property rows, in the file's order."""
    rows = _rows(text)
    header = _header_columns(rows[0] if rows else [], builder)
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise PlanError(
            f"not a tracking plan CSV: no column for {' or '.join(_accepted(name) for name in missing)}; "
            "names are matched in any case, spaces and punctuation aside (the columns are those "
            "`event-catalog export --format csv` writes)"
        )
    events: dict[tuple[str, str], _Event] = {}
    current: _Event | None = None
    for number, values in enumerate(rows[1:], 2):
        if not any(value.strip() for value in values):
            continue
        _warn_beyond(number, header, values, builder)
        cells = {name: _unguarded(value) for name, value in zip(header, values, strict=False)}
        name = cells.get("event", "").strip()
        if name:
            key = (cells.get("kind", "").strip().lower() or "track", name)
            current = events.setdefault(key, _Event(number, {"event": name}))
        elif current is None:
            raise PlanError(f"line {number}: a row without an event, and no event above it")
        for column in _EVENT_COLUMNS:
            if cells.get(column, "").strip() and not current.cells.get(column):
                current.cells[column] = cells[column]
        if cells.get("property", "").strip():
            current.properties.append({**cells, "line": str(number)})
    if not events:
        raise PlanError("the plan has no events")
    return list(events.values())


def _warn_beyond(number: int, header: list[str], values: list[str], builder: DraftBuilder) -> None:
    """Name the cells a row has past the header's last column: a description's unquoted comma
    splits it there. Blank ones, which spreadsheets leave, are not named."""
    beyond = values[len(header) :]
    while beyond and not beyond[-1].strip():
        beyond.pop()
    if beyond:
        builder.warn(
            f"line {number}: not imported: {counted(len(beyond), 'cell')} beyond the header's "
            f"{len(header)} columns ({', '.join(repr(value) for value in beyond)})"
        )


def _header_columns(names: list[str], builder: DraftBuilder) -> list[str]:
    """The export's column each header cell names; "" for a cell not imported, with one warning
    naming those (a column not in the export, or a second one for the same column)."""
    columns: list[str] = []
    left: list[str] = []
    for name in names:
        column = _column(name)
        columns.append(column if column in CSV_COLUMNS and column not in columns else "")
        if column and not columns[-1]:
            why = f"a second {column} column" if column in CSV_COLUMNS else "not a column of the export"
            left.append(f"{name.strip()} ({why})")
    if left:
        builder.warn(f"columns not imported: {', '.join(left)}")
    return columns


def read_csv_plan(text: str, builder: DraftBuilder) -> None:
    """Add a CSV plan's specs to `builder`'s plan.

    Raises:
        PlanError: the text is not a tracking plan CSV.
    """
    headed = [(_header(event, builder), event) for event in _events(text, builder)]
    for spec, event in headed:
        if spec is not None:
            _fill(spec, event, builder)
            builder.plan.specs.append(spec)
    if not builder.plan.specs:
        raise PlanError("the plan has no track or identify call")


def _header(event: _Event, builder: DraftBuilder) -> SpecDraft | None:
    cells = event.cells
    name, kind = cells["event"], (cells.get("kind") or "track").strip().lower()
    if kind not in ("track", "identify"):
        builder.warn(f"{name}: not imported: a {kind} call; the catalog holds track and identify calls")
        return None
    return SpecDraft(
        kind=kind,
        name=name,
        class_name=builder.spec_class(name, kind, cells.get("constant", "").strip()),
        description=cells.get("event_description", ""),
        category=cells.get("category", "").strip(),
        owner=cells.get("owner", "").strip(),
        status=cells.get("status", "").strip().lower() or "active",
        replaced_by=cells.get("replaced_by", "").strip() or None,
    )


def _path(name: str) -> tuple[str, ...]:
    """A row's property path: `line_items[].sku` → (`line_items`, `sku`)."""
    return tuple(re.sub(r"\[\*?\]$", "", part.strip()) for part in name.strip().split("."))


YES_WORDS = ("yes", "y", "true", "1", "required", "x", "✓", "✔")
"""The words of a yes/no cell (`required`, `added_by_scope`, `personal_data`) for yes, in any case."""

NO_WORDS = ("no", "n", "false", "0", "optional")
"""The words of a yes/no cell for no, in any case; a blank cell is no too, but for `personal_data`."""

PERSONAL_WORDS = ("pii", "personal", "personal data", "sensitive")
"""More words for yes in a `personal_data` cell, as a sheet's column of personal data is often
filled (`PII`); README's CSV import section lists them all."""


def _yes(cell: str) -> bool | None:
    """A yes/no cell: True, False, or None when it says neither."""
    text = cell.strip().lower()
    if text in YES_WORDS:
        return True
    if text in (*NO_WORDS, ""):
        return False
    return None


def _personal_word(cell: str) -> bool | None:
    """A `personal_data` cell: True, False, or None when it is blank or says neither."""
    if cell.strip().lower() in PERSONAL_WORDS:
        return True
    return _yes(cell) if cell.strip() else None


def _is_user_id(row: dict[str, str]) -> bool:
    """The message's `userId` row, which the event list's download writes as its page shows it: the
    scope's id, at the top of the message, not a property to declare."""
    return row["property"].strip() == "userId" and _yes(row.get("added_by_scope", "")) is True


def _fill(spec: SpecDraft, event: _Event, builder: DraftBuilder) -> None:
    rows: dict[tuple[str, ...], dict[str, str]] = {}
    for row in event.properties:
        if _is_user_id(row):
            continue
        path = _path(row["property"])
        if path in rows:
            message = f"not imported: line {row['line']}, a second row for {'.'.join(path)!r}"
            spec.notes.append(message)
            builder.warn(f"{spec.name}: {message}")
        rows.setdefault(path, row)
    for path in rows:
        if len(path) > 1 and path[:-1] not in rows:
            message = f"not imported: the row {'.'.join(path)!r} has no row for {'.'.join(path[:-1])!r} above"
            spec.notes.append(message)
            builder.warn(f"{spec.name}: {message}")
    top = [row for path, row in rows.items() if len(path) == 1]
    if spec.kind == "track":
        names = [row["property"].strip() for row in top]
        ids = [row["property"].strip() for row in top if _yes(row.get("added_by_scope", "")) is True]
        added = settle_scope(spec, event.cells.get("scope", "").strip(), ids, names, builder)
        top = [row for row in top if row["property"].strip() not in added]
    reader = _RowReader(builder, rows, spec.class_name)
    builder.open_fields()
    for row in top:
        prop = reader.property(row, spec.kind, spec.notes)
        if prop is not None:
            spec.properties.append(prop)
    builder.close_fields(spec.class_name)


class _RowReader:
    """Turns one event's property rows into drafts, its nested rows into nested models."""

    def __init__(
        self, builder: DraftBuilder, rows: dict[tuple[str, ...], dict[str, str]], owner: str
    ) -> None:
        self.builder = builder
        self.rows = rows
        self.owner = owner

    def property(self, row: dict[str, str], where: str, notes: list[str]) -> PropertyDraft | None:
        """One row's draft, or None (with a note in `notes`) when its name cannot be a field."""
        path = _path(row["property"])
        name = path[-1]
        problem = unusable_name(name, where)
        if problem is not None:
            notes.append(f"not imported: {name!r} {problem}; rename it in the plan, or add it by hand")
            self.builder.say(name, f"not imported: {problem}")
            return None
        own: list[str] = []
        draft = self.type(row, path, own)
        required = _yes(row.get("required", ""))
        if required is None:
            own.append(f"required is {row['required']!r}, neither yes nor no: optional")
        prop = PropertyDraft(
            name=name,
            type=draft,
            required=bool(required),
            description=row.get("property_description", ""),
            example=None,
            notes=own,
        )
        self._example(prop, row.get("example", ""), path)
        self._personal(prop, row.get("personal_data", ""), row["line"])
        for note in own:
            self.builder.say(name, note)
        return prop

    def _personal(self, prop: PropertyDraft, cell: str, line: str) -> None:
        """Mark `prop` as its `personal_data` cell says.

        A blank cell says nothing, as a missing column does: a sheet often marks only its personal
        rows, so a name like personal data marks the property, as lint would ask (EC013). Only a `no`
        says it holds none. On a free-form value that `no` also turns off masking by key name inside
        it, and exports before commit 83b0053 wrote `no` on every such row without anyone deciding:
        it is kept, as lint's EC017 answer, but named in a note and a warning. A cell that says
        neither (`ja`, `perhaps`) is read as a blank one, and named: taken in silence, a sheet's own
        word for its personal rows imported each of them unmasked.
        """
        said = _personal_word(cell)
        if said is None and cell.strip():
            prop.notes.append(
                f"personal_data is {cell.strip()!r} (line {line}), neither yes nor no: left unsaid, as a "
                "blank cell is; write yes or no"
            )
        if said is None:
            personal_by_name(prop, self.builder)
            return
        prop.personal_data = said
        prop.says_not_personal = not said
        if not said and is_free_form_draft(prop.type):
            prop.notes.append(
                f"personal_data=False, as the plan's {cell.strip()!r} says: no key inside it will be "
                "masked by its name; if it may hold personal data (an export before 2026-12-07 wrote "
                "'no' on every object row), write personal_data=True or declare its fields"
            )

    def type(self, row: dict[str, str], path: tuple[str, ...], notes: list[str]) -> TypeDraft:
        """The row's type with its allowed values, bounds and pattern at the levels they apply to."""
        text = row.get("type", "").strip().lower()
        parts = text.split(" of ")
        arrays, base = parts[:-1], parts[-1]
        if any(part not in _LISTS for part in arrays):
            notes.append(f"not imported: the type {text!r} (the type is Any)")
            arrays, base = [], "any"
        elif base in _LISTS and not row.get("allowed_values", "").strip():
            notes.append(
                f"the type {text!r} does not say what its items are: list[Any]; write `array of string` "
                "(of integer, object…) to check them"
            )
            arrays, base = [*arrays, base], "any"
        draft = self._base(base, row, path, notes, singular(path[-1]) if arrays else path[-1])
        levels = [draft]
        for _ in arrays:
            levels.insert(0, TypeDraft("list", item=levels[0]))
        self._bounds(levels, row.get("bounds", ""), notes)
        pattern = row.get("pattern", "").strip()
        if pattern and levels[-1].python == "str":
            levels[-1].constraints["pattern"] = pattern
        elif pattern:
            notes.append(f"not imported: the pattern {pattern!r} of a value that is not text")
        return levels[0]

    def _base(
        self, base: str, row: dict[str, str], path: tuple[str, ...], notes: list[str], hint: str
    ) -> TypeDraft:
        cell = row.get("allowed_values", "")
        # The export writes ` | ` between values; a spreadsheet may have written `|` alone.
        allowed = [value.strip() for value in cell.split(" | " if " | " in cell else "|") if value.strip()]
        base = _type_word(base, notes)
        if base == "enum" and allowed:
            base = "string"  # a spreadsheet's way to say "one of these words"
        if base == "object":
            return self._object(row, path, notes)
        if base not in _SCALARS:
            notes.append(f"not imported: the type {base or 'left empty'!r} (the type is Any)")
            return scalar("Any")
        if not allowed:
            return scalar(_SCALARS[base])
        try:
            values = [_value(base, value) for value in allowed]
        except ValueError:
            notes.append(f"not imported: allowed values {' | '.join(allowed)} (not all {base})")
            return scalar(_SCALARS[base])
        return self.builder.enum(hint, values, self.owner, notes)

    def _object(self, row: dict[str, str], path: tuple[str, ...], notes: list[str]) -> TypeDraft:
        children = [child for child_path, child in self.rows.items() if child_path[:-1] == path]
        if not children:
            notes.append("the CSV does not say what this object holds: dict[str, Any]; write a nested model")
            return TypeDraft("dict")
        field_notes: list[str] = []
        self.builder.open_fields()
        fields = [self.property(child, "model", field_notes) for child in children]
        in_list = row.get("type", "").strip().lower().startswith("array")
        model = ModelDraft(
            class_name="",
            docstring=row.get("property_description", ""),
            properties=[prop for prop in fields if prop is not None],
            notes=field_notes,
        )
        typed = self.builder.model(singular(path[-1]) if in_list else path[-1], model, self.owner)
        self.builder.close_fields(model.class_name if typed.model is model else None)
        return typed

    def _bounds(self, levels: list[TypeDraft], text: str, notes: list[str]) -> None:
        """Put each bound where `analytics.bounds` found it: items on each list, value and length on
        the innermost value."""
        intervals = [part.strip() for part in text.split(",") if part.strip()]
        # A bound that names no measure (`>= 1`) bounds a number's value: of text or a list it could
        # be the length or the count, which the plan must say.
        numeric = levels[-1].kind == "scalar" and levels[-1].python in ("int", "float")
        position = 0
        for level in levels:
            measures = ("items",) if level.kind == "list" else ("value", "length")
            for measure in measures:
                if position < len(intervals):
                    parsed = _interval(intervals[position], numeric)
                    if parsed is not None and parsed[0] == measure:
                        level.constraints.update(parsed[1])
                        position += 1
        if position < len(intervals):
            notes.append(
                f"not imported: the bounds {', '.join(intervals[position:])!r} (write them as "
                "`0 <= value <= 100`, `1-31`, `length >= 1` or `items <= 5`, items first)"
            )

    def _example(self, prop: PropertyDraft, cell: str, path: tuple[str, ...]) -> None:
        draft = prop.type
        if cell == "":
            prop.example, prop.example_made_up = made_up_example(draft), True
        elif _textual(draft):
            prop.example = cell
        else:
            try:
                prop.example = json.loads(cell)
            except ValueError:
                listed = _listed(draft, cell)
                if listed is None:
                    prop.notes.append(f"the example {cell!r} is not JSON: a made-up one is written")
                    prop.example, prop.example_made_up = made_up_example(draft), True
                else:
                    prop.example = listed
        problem = example_problem(draft, prop.example)
        if problem is not None:
            prop.notes.append(problem)


def _textual(draft: TypeDraft) -> bool:
    """Whether a value is text, whose example cell is read as it is (not as JSON)."""
    if draft.kind == "enum":
        return draft.enum is not None and draft.enum.base == "StrEnum"
    return draft.kind == "scalar" and draft.python == "str"


def _listed(draft: TypeDraft, cell: str) -> list[Any] | None:
    """A list's example written as a spreadsheet does, not as JSON: its items separated by `|` as
    `allowed_values` are (`red | blue`; `red` alone is one item), each text as it is or else JSON.
    None when the type is no list of such items, or an item does not read."""
    if draft.kind != "list" or draft.item is None or draft.item.kind not in ("scalar", "enum"):
        return None
    parts = [part.strip() for part in cell.split("|")]
    if _textual(draft.item):
        return parts
    try:
        return [json.loads(part) for part in parts]
    except ValueError:
        return None


def _type_word(text: str, notes: list[str]) -> str:
    """A type cell's word as the catalog names it: `Int` → `integer`, `integers` → `integer`,
    `DateTime` → `string` (with a note on the format a spec does not check)."""
    word = re.sub(r"[\s_-]+", "", text)
    known = {*_SCALARS, *TYPE_ALIASES, *DATE_FORMATS, "object", "enum"}
    if word not in known and word.endswith("s") and word[:-1] in known:
        word = word[:-1]
    if word in DATE_FORMATS:
        notes.append(
            f"not imported: format {DATE_FORMATS[word]!r} of the type {text!r} "
            "(the value is checked as any text)"
        )
        return "string"
    return TYPE_ALIASES.get(word, word if word in known else text)


def _value(base: str, text: str) -> Any:
    """An allowed value as its type reads it (ValueError when it does not)."""
    if base == "integer":
        return int(text)
    if base == "number":
        return float(text)
    if base == "boolean":
        if text.lower() not in ("true", "false"):
            raise ValueError(text)
        return text.lower() == "true"
    return text


def _number(text: str) -> int | float:
    if text == "2⁶³−1":
        return MAX_ID
    number = float(text)
    return int(number) if number.is_integer() and "." not in text else number


def _interval(text: str, numeric: bool) -> tuple[str, dict[str, Any]] | None:
    """A bound's text (`1 ≤ value ≤ 31`, `length >= 1`; for a `numeric` value `>= 1` or `1-31`) as
    its measure and `Field` arguments."""
    text = _SIGNS.sub(lambda sign: f" {_ASCII_SIGNS.get(sign[1], sign[1])} ", text).strip()
    if numeric and _NO_MEASURE.match(text):
        text = f"value {text}"
    elif numeric and (ends := _RANGE.match(text)):
        text = f"{ends[1]} ≤ value ≤ {ends[2]}"
    if match := _TWO_ENDS.match(text):
        low, low_sign, measure, high_sign, high = match.groups()
        return measure, {**_end(measure, low_sign, low, "low"), **_end(measure, high_sign, high, "high")}
    if match := _ONE_END.match(text):
        measure, sign, number = match.groups()
        side = "low" if sign in (">", "≥") else "high"
        return measure, _end(measure, {">": "<", "≥": "≤"}.get(sign, sign), number, side)
    return None


def _end(measure: str, sign: str, text: str, side: str) -> dict[str, Any]:
    value = _number(text)
    if measure == "value":
        return {_BOUND_ARGS[(measure, sign, side)]: value}
    # A length or a count is a whole number: the catalog writes its bounds inclusive.
    count = int(value) + (0 if sign == "≤" else 1 if side == "low" else -1)
    return {"min_length" if side == "low" else "max_length": count}
