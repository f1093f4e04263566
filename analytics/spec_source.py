"""Spec drafts written as the Python of `analytics/tracks.py`, for `event-catalog import`.

The module it writes runs as it is, so it can be tried before it is pasted: its own `SegmentEvent`
stands in for `analytics.events.SegmentEvent`, whose members it lists. It is laid out as ruff
formats it (110 columns, double quotes, a magic trailing comma wherever a call is split), so that
pasting it changes nothing `ruff format` would change back. Each part says where it goes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from analytics.python_source import string
from analytics.scopes import MAX_ID
from analytics.spec import Category, Status, Team
from analytics.spec_drafts import (
    MADE_UP,
    NO_DEFAULT,
    EnumDraft,
    ModelDraft,
    PlanDraft,
    PropertyDraft,
    SpecDraft,
    TypeDraft,
    is_free_form_draft,
)

LINE = 110
"""The project's line length (pyproject.toml's ruff setting)."""

INDENT = "    "


class _Imports:
    """The names the module uses, by module, written as ruff's isort writes them."""

    _STDLIB = ("__future__", "enum", "typing")
    _THIRD_PARTY = ("pydantic",)

    def __init__(self) -> None:
        self.names: dict[str, set[str]] = {"__future__": {"annotations"}}

    def use(self, module: str, name: str) -> str:
        """Import `name` from `module`; returns the name, to write where it is used."""
        self.names.setdefault(module, set()).add(name)
        return name

    def lines(self) -> list[str]:
        """The import statements, grouped (future, standard library, pydantic, ours), each group
        followed by a blank line."""
        groups: list[list[str]] = [[], [], [], []]
        for module in sorted(self.names):
            if module in self._STDLIB:
                group = 0 if module == "__future__" else 1
            else:
                group = 2 if module in self._THIRD_PARTY else 3
            names = sorted(self.names[module], key=lambda name: (_name_type(name), name))
            line = f"from {module} import {', '.join(names)}"
            if len(line) > LINE:
                line = f"from {module} import (\n" + "".join(f"{INDENT}{name},\n" for name in names) + ")"
            groups[group].append(line)
        return [line for group in groups if group for line in [*group, ""]]


def _name_type(name: str) -> int:
    """isort's order by type: constants, then classes, then everything else."""
    if name.isupper() and len(name) > 1:
        return 0
    return 1 if name[:1].isupper() else 2


def _pattern(text: str) -> str:
    """A regular expression as a raw string, as `analytics/tracks.py` writes them, where one can hold it."""
    if '"' not in text and not text.endswith("\\") and "\n" not in text and text.isprintable():
        return f'r"{text}"'
    return string(text)


def literal(value: Any, draft: TypeDraft | None = None) -> str:
    """Python source for a JSON value; enum members by name where `draft` is their enum."""
    if draft is not None and draft.kind == "enum" and draft.enum is not None:
        member = draft.enum.member(value)
        if member is not None:
            return f"{draft.enum.class_name}.{member}"
    if draft is not None and draft.kind == "list" and isinstance(value, list):
        return "[" + ", ".join(literal(item, draft.item) for item in value) + "]"
    if isinstance(value, str):
        return string(value)
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(literal(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{string(str(key))}: {literal(item)}" for key, item in value.items()) + "}"
    return string(str(value))


def _constraint(value: Any, imports: _Imports) -> str:
    if value == MAX_ID and isinstance(value, int):
        return imports.use("analytics.scopes", "MAX_ID")
    return literal(value)


def _constraints(constraints: dict[str, Any], imports: _Imports) -> list[str]:
    order = ("gt", "ge", "lt", "le", "multiple_of", "min_length", "max_length", "pattern")
    arguments = []
    for key in sorted(constraints, key=lambda key: order.index(key) if key in order else len(order)):
        value = constraints[key]
        text = _pattern(value) if key == "pattern" else _constraint(value, imports)
        arguments.append(f"{key}={text}")
    return arguments


def annotation(draft: TypeDraft, imports: _Imports, *, top: bool = True) -> str:
    """The type as an annotation; constraints below the top level as `Annotated[T, Field(...)]`."""
    if draft.kind == "enum" and draft.enum is not None:
        enum = draft.enum
        text = imports.use(enum.module, enum.class_name) if enum.module else enum.class_name
    elif draft.kind == "model" and draft.model is not None:
        text = draft.model.class_name
    elif draft.kind == "literal":
        text = f"{imports.use('typing', 'Literal')}[{', '.join(literal(value) for value in draft.values)}]"
    elif draft.kind == "dict":
        text = f"dict[str, {imports.use('typing', 'Any')}]"
    elif draft.kind == "list" and draft.item is not None:
        text = f"list[{annotation(draft.item, imports, top=False)}]"
    else:
        text = imports.use("typing", "Any") if draft.python == "Any" else draft.python
    if draft.nullable and text != "Any":
        text += " | None"
    if not top and draft.constraints:
        arguments = ", ".join(_constraints(draft.constraints, imports))
        text = (
            f"{imports.use('typing', 'Annotated')}[{text}, {imports.use('pydantic', 'Field')}({arguments})]"
        )
    return text


def _comment(text: str, indent: str) -> list[str]:
    """A comment, wrapped at the line length."""
    lines, line = [], ""
    for word in text.split():
        if line and len(indent) + 2 + len(line) + 1 + len(word) > LINE:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [f"{indent}# {part}" for part in [*lines, line] if part]


def _docstring(text: str, indent: str) -> list[str]:
    """A docstring holding `text` exactly (as `inspect.cleandoc` gives it back), long lines wrapped."""
    text = text.strip()
    if not text:
        return []
    escaped = "\n".join(string(line)[1:-1].replace('\\"', '"') for line in text.splitlines())
    escaped = escaped.replace('"""', '\\"\\"\\"')
    if escaped.endswith('"'):
        escaped = escaped[:-1] + '\\"'
    lines: list[str] = []
    for line in escaped.splitlines():
        lines.extend(_wrapped(line.rstrip(), LINE - len(indent) - 3) or [""])
    if len(lines) == 1 and len(indent) + len(lines[0]) + 6 <= LINE:
        return [f'{indent}"""{lines[0]}"""']
    body = [f"{indent}{line}" if line else "" for line in lines[1:]]
    return [f'{indent}"""{lines[0]}', *body, f'{indent}"""']


def _wrapped(line: str, width: int) -> list[str]:
    if len(line) <= width:
        return [line]
    lead = line[: len(line) - len(line.lstrip())]
    parts, current = [], ""
    for word in line.split():
        if current and len(lead) + len(current) + 1 + len(word) > width:
            parts.append(lead + current)
            current = word
        else:
            current = f"{current} {word}".strip()
    return [*parts, lead + current]


def _call(head: str, arguments: list[str], indent: str, *, tail: str = "") -> list[str]:
    """`head(arguments)`: on one line when it fits, else one argument a line with a trailing comma
    (ruff's magic trailing comma keeps it so); a long first string is split into implicit parts."""
    one = f"{indent}{head}({', '.join(arguments)}){tail}"
    if len(one) <= LINE:
        return [one]
    inner = indent + INDENT
    lines = [f"{indent}{head}("]
    for argument in arguments:
        lines.extend(
            _split_string(argument, inner) if argument.startswith(('"', "'")) else [f"{inner}{argument},"]
        )
    return [*lines, f"{indent}){tail}"]


def _split_string(argument: str, indent: str) -> list[str]:
    """A string argument too long for a line, as implicitly concatenated parts split at spaces."""
    if len(indent) + len(argument) + 1 <= LINE:
        return [f"{indent}{argument},"]
    quote, body = argument[0], argument[1:-1]
    width = LINE - len(indent) - 3
    parts, current = [], ""
    for word in body.split(" "):
        if current and len(current) + 1 + len(word) > width:
            parts.append(current + " ")
            current = word
        else:
            current = f"{current} {word}" if current else word
    parts.append(current)
    lines = [f"{indent}{quote}{part}{quote}" for part in parts]
    lines[-1] += ","
    return lines


def _property(prop: PropertyDraft, imports: _Imports) -> list[str]:
    prop_name = imports.use("analytics.spec", "prop")
    draft = prop.type
    optional = not prop.required
    if optional and prop.default is NO_DEFAULT and not draft.nullable:
        draft = replace(draft, nullable=True)
    arguments = [string(prop.description), f"example={literal(prop.example, prop.type)}"]
    if prop.personal_data:
        arguments.append("personal_data=True")
    elif prop.says_not_personal and is_free_form_draft(prop.type):
        arguments.append("personal_data=False")
    if optional:
        default = None if prop.default is NO_DEFAULT else prop.default
        arguments.append(f"default={literal(default, prop.type)}")
    arguments += _constraints(draft.constraints, imports)
    notes = [*prop.notes, *([MADE_UP] if prop.example_made_up else [])]
    lines = [line for note in notes for line in _comment(note, INDENT)]
    return [*lines, *_call(f"{prop.name}: {annotation(draft, imports)} = {prop_name}", arguments, INDENT)]


def _enum(draft: EnumDraft, imports: _Imports) -> list[str]:
    base = imports.use("enum", draft.base)
    members = [f"{INDENT}{name} = {literal(value)}" for name, value in draft.members]
    return [f"class {draft.class_name}({base}):", *_docstring(draft.docstring, INDENT), "", *members]


def _reused(enums: list[EnumDraft]) -> list[str]:
    """The comment that says which of the catalog's enums the specs use rather than define again."""
    names = ", ".join(f"{draft.class_name} ({draft.module})" for draft in enums)
    text = f"The catalog's own enums with the same values, imported above, not defined again: {names}."
    return _comment(text, "")


def _model(draft: ModelDraft, imports: _Imports) -> list[str]:
    base, config = imports.use("pydantic", "BaseModel"), imports.use("pydantic", "ConfigDict")
    lines = [f"class {draft.class_name}({base}):", *_docstring(draft.docstring, INDENT)]
    if lines[-1].startswith("class"):
        lines += _comment("no description in the plan: write what this object is", INDENT)
    lines += ["", f'{INDENT}model_config = {config}(frozen=True, extra="{draft.extra}")']
    body = [line for note in draft.notes for line in _comment(note, INDENT)]
    for prop in draft.properties:
        body += _property(prop, imports)
    return [*lines, *([""] + body if body else [])]


def _member(value: str, members: Iterable[tuple[str, str]], enum: str, imports: _Imports) -> str:
    for name, member in members:
        if member == value:
            return f"{imports.use('analytics.spec', enum)}.{name}"
    return string(value)


def _status(spec: SpecDraft, imports: _Imports) -> list[str]:
    """The `status=` class argument of a planned or deprecated spec; none for an active one, the
    default (`plan_import` has made any other status active, with a note)."""
    members = {str(member): member.name for member in Status if member is not Status.ACTIVE}
    if spec.status not in members:
        return []
    return [f"status={imports.use('analytics.spec', 'Status')}.{members[spec.status]}"]


def _spec(spec: SpecDraft, imports: _Imports) -> list[str]:
    categories = ((member.name, str(member)) for member in Category)
    teams = ((member.name, str(member)) for member in Team)
    owner = _member(spec.owner, teams, "Team", imports)
    if spec.kind == "track":
        arguments = [
            imports.use("analytics.spec", "TrackSpec"),
            f"event=SegmentEvent.{spec.class_name}",
            f"category={_member(spec.category, categories, 'Category', imports)}",
            f"owner={owner}",
            *_status(spec, imports),
        ]
        if spec.replaced_by_constant:
            arguments.append(f"replaced_by=SegmentEvent.{spec.replaced_by_constant}")
    else:
        arguments = [
            imports.use("analytics.spec", "IdentifySpec"),
            f"name={string(spec.name)}",
            f"owner={owner}",
            *_status(spec, imports),
        ]
    lines = [line for note in spec.notes for line in _comment(note, "")]
    lines += _call(f"class {spec.class_name}", arguments, "", tail=":")
    docstring = _docstring(spec.description, INDENT)
    if not docstring:
        docstring = _comment("no description in the plan: write the docstring (lint EC005)", INDENT)
    scope = imports.use(spec.scope.__module__, spec.scope.__name__)
    lines += [*docstring, "", f"{INDENT}scope: {scope}"]
    for prop in spec.properties:
        lines += _property(prop, imports)
    return lines


def _uses(draft: TypeDraft) -> Iterable[str]:
    if draft.enum is not None:
        yield draft.enum.class_name
    if draft.model is not None:
        yield draft.model.class_name
        for prop in draft.model.properties:
            yield from _uses(prop.type)
    if draft.item is not None:
        yield from _uses(draft.item)


def _segment_event(tracks: list[SpecDraft], imports: _Imports) -> list[str]:
    members = []
    for spec in tracks:
        members += [line for note in spec.name_notes for line in _comment(note, INDENT)]
        members.append(f"{INDENT}{spec.class_name} = {string(spec.name)}")
    base = imports.use("enum", "StrEnum")
    return [f"class SegmentEvent({base}):", f'{INDENT}"""The imported events\' names."""', "", *members]


KEPT_REASON = "Kept from the imported plan: data already sent uses it."
"""The reason written for each lint exception the import offers: a placeholder to replace with the
real one (why renaming would cost more than the inconsistency)."""


def _exceptions(exceptions: Iterable[tuple[str, str]]) -> list[str]:
    """`EXCEPTIONS` entries for the names kept, as ruff formats a dict: an entry too long for one line
    has its key split, as those of `analytics/lint.py` are."""
    lines = ["IMPORTED_EXCEPTIONS = {"]
    for code, subject in exceptions:
        entry = f"{INDENT}({string(code)}, {string(subject)}): {string(KEPT_REASON)},"
        if len(entry) > LINE:
            key = [f"{INDENT}(", f"{INDENT * 2}{string(code)},", f"{INDENT * 2}{string(subject)},"]
            entry = "\n".join([*key, f"{INDENT}): {string(KEPT_REASON)},"])
        lines.append(entry)
    return [*"\n".join(lines).splitlines(), "}"]


def _parts(
    plan: PlanDraft, imports: _Imports, exceptions: list[tuple[str, str]]
) -> list[tuple[str, list[list[str]]]]:
    """Each part of the module: its heading, and its classes' lines."""
    tracks = [spec for spec in plan.specs if spec.kind == "track"]
    identifies = [spec for spec in plan.specs if spec.kind == "identify"]
    parts: list[tuple[str, list[list[str]]]] = []
    if tracks:
        heading = (
            "for analytics/events.py: add these members to SegmentEvent, which this class stands in for here."
        )
        parts.append((heading, [_segment_event(tracks, imports)]))
    definitions = [_reused(plan.reused)] if plan.reused else []
    definitions += [_enum(draft, imports) for draft in plan.enums]
    definitions += [_model(draft, imports) for draft in plan.models]
    definitions += [_spec(spec, imports) for spec in tracks]
    if definitions:
        parts.append(("for analytics/tracks.py: enums, nested models and track specs.", definitions))
    if identifies:
        used = sorted({name for spec in identifies for prop in spec.properties for name in _uses(prop.type)})
        heading = "for analytics/identifiers.py: identify specs."
        if used:
            heading += f" Import what they use from analytics.tracks: {', '.join(used)}."
        parts.append((heading, [_spec(spec, imports) for spec in identifies]))
    if exceptions:
        heading = (
            "for analytics/lint.py: the names kept that break lint's naming rules. To keep them, paste these "
            "entries into EXCEPTIONS, each with the real reason; or rename them while nothing sends them."
        )
        parts.append((heading, [_exceptions(exceptions)]))
    return parts


def render(plan: PlanDraft, exceptions: Iterable[tuple[str, str]] = ()) -> str:
    """The Python module of a plan's drafts (see the module docstring), ending with the lint
    `exceptions` (code, subject) that would accept the names kept, when there are any."""
    imports = _Imports()
    parts = _parts(plan, imports, list(exceptions))
    about = (
        f"Specs imported from {plan.source} by `event-catalog import`.\n\n"
        "Paste each part where its heading says, then run `event-catalog lint`. This module runs as it "
        "is (its SegmentEvent stands in for analytics.events'), so the specs can be tried before they "
        "are pasted."
    )
    lines = [*_docstring(about, ""), "", *imports.lines()]
    # ruff's isort leaves one blank line between the imports and a comment; ruff two around a class.
    if plan.new_members:
        notes = ["For analytics/spec.py: add these members, then write them for the strings below:"]
        lines += [line for note in [*notes, *plan.new_members] for line in _comment(note, "")]
        lines += ["", ""]
    for number, (heading, blocks) in enumerate(parts, 1):
        lines += [*_comment(f"Part {number}, {heading}", ""), "", ""]
        for block in blocks:
            lines += [*block, "", ""]
    return "\n".join(lines).rstrip() + "\n"
