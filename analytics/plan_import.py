"""`event-catalog import`: another tracking plan as the Python of spec classes, one way.

A team that kept its plan in a spreadsheet or in Segment Protocols brings it in once: the CSV
(`analytics.plan_csv`, the columns of our own CSV export) or the Protocols plan
(`analytics.plan_segment`) is read into drafts, the names are checked against the rules
`event-catalog lint` applies, and the drafts are written as a module (`analytics.spec_source`) to
paste into `analytics/events.py`, `tracks.py` and `identifiers.py`. Nothing is renamed: a name that
breaks a rule, or anything the specs cannot say, is a comment in the module and a warning line; the
`EXCEPTIONS` entries that keep the names lint would refuse are the module's last part, to paste into
`analytics/lint.py`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePath

import analytics.events
import analytics.identifiers
import analytics.tracks
from analytics.catalog import CATALOG
from analytics.events import SegmentEvent
from analytics.lint import EXCEPTIONS, Finding, is_snake_case, name_findings
from analytics.personal_data import looks_personal
from analytics.plan_csv import read_csv_plan
from analytics.plan_segment import read_segment_plan
from analytics.scopes import SCOPES
from analytics.spec import Category, Status, Team
from analytics.spec_drafts import (
    DraftBuilder,
    ModelDraft,
    PlanDraft,
    PlanError,
    PropertyDraft,
    SpecDraft,
    TypeDraft,
    is_free_form_draft,
    member_name,
)
from analytics.spec_source import render
from analytics.wording import counted

__all__ = ["ImportedPlan", "PlanError", "PlanFormat", "guess_format", "import_plan"]


class PlanFormat(StrEnum):
    """The plans `event-catalog import` reads."""

    CSV = "csv"
    SEGMENT_PLAN = "segment-plan"


DEFAULT_CATEGORY = "Imported"
"""The category of an event whose plan names none (a track spec needs one)."""

DEFAULT_OWNER = "unowned"
"""The owner of a spec whose plan names none (every spec needs one)."""

_TAKEN = {
    *("SegmentEvent", "TrackSpec", "IdentifySpec", "Category", "Team", "Status", "BaseModel", "ConfigDict"),
    *("Field", "StrEnum", "IntEnum", "Any", "Annotated", "Literal", "None", "True", "False"),
    *(scope.__name__ for scope in SCOPES),
}
"""Names the generated module imports or Python keeps, which no class of its own may take."""

STATUSES = frozenset(str(status) for status in Status)
"""What a plan's status may say (any case): a spreadsheet's *planned* rows stay planned."""

_STATUS_CHOICES = ", ".join(sorted(STATUSES)[:-1]) + f" or {sorted(STATUSES)[-1]}"


@dataclass(frozen=True)
class ImportedPlan:
    """What an import gives.

    Attributes:
        source: the Python module.
        warnings: one line each, for standard error.
        tracks: how many track specs it holds.
        identifies: how many identify specs it holds.
    """

    source: str
    warnings: list[str]
    tracks: int
    identifies: int


def guess_format(filename: str, text: str) -> PlanFormat | None:
    """The format a file is in, by its name's suffix, else by its first character; None if unclear."""
    suffix = PurePath(filename).suffix.lower()
    if suffix == ".csv":
        return PlanFormat.CSV
    if suffix == ".json":
        return PlanFormat.SEGMENT_PLAN
    start = text.lstrip()[:1]
    if start in ("{", "["):
        return PlanFormat.SEGMENT_PLAN
    return PlanFormat.CSV if start.isalpha() and "," in text.partition("\n")[0] else None


def read_plan(text: str, fmt: PlanFormat, source: str) -> PlanDraft:
    """A plan's drafts, checked (see the module docstring).

    Raises:
        PlanError: the text is not a plan in that format.
    """
    builder = DraftBuilder(source, _TAKEN, _catalog_classes())
    if fmt is PlanFormat.SEGMENT_PLAN:
        try:
            document = json.loads(text, parse_constant=_no_constant)
        except json.JSONDecodeError as exc:
            raise PlanError(f"not JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
        read_segment_plan(document, builder)
    else:
        read_csv_plan(text, builder)
    _check(builder)
    return builder.plan


def _catalog_classes() -> dict[str, type]:
    """The classes the catalog's modules define (enums, nested models, specs), by name: the part
    pasted next to them must not define a class of the same name again."""
    classes: dict[str, type] = {}
    for module in (analytics.events, analytics.tracks, analytics.identifiers):
        for name, value in vars(module).items():
            if isinstance(value, type) and value.__module__ == module.__name__:
                classes[name] = value
    return classes


def _no_constant(name: str) -> None:
    """Refuse `NaN` and `Infinity`, which Python's JSON reads but JSON (and a spec's example) lacks."""
    raise PlanError(f"not JSON: {name} is not a JSON number")


def import_plan(text: str, fmt: PlanFormat, source: str) -> ImportedPlan:
    """A plan as the Python of spec classes, with the warnings to print.

    Raises:
        PlanError: the text is not a plan in that format.
    """
    plan = read_plan(text, fmt, source)
    kept = kept_names(plan)
    if kept:
        plan.warnings.append(
            f"{counted(len(kept), 'lint finding')} on names kept as the plan has them (above): to accept "
            f"them, paste the entries of IMPORTED_EXCEPTIONS (the output's last part) into EXCEPTIONS in "
            "analytics/lint.py, each with the real reason"
        )
    tracks = sum(spec.kind == "track" for spec in plan.specs)
    return ImportedPlan(render(plan, kept), plan.warnings, tracks, len(plan.specs) - tracks)


def kept_names(plan: PlanDraft) -> list[tuple[str, str]]:
    """The (code, subject) of each naming finding lint will report on the pasted specs, as
    `EXCEPTIONS` keys them, but those it already holds: the entries that accept the names kept.

    Only the naming rules (EC001 to EC004, EC010, EC011, and EC006 by lint's path, `Spec.field.sub`):
    a missing description or personal-data answer is to be written, not excepted.
    """
    found = [(finding.code, finding.subject) for finding in _event_name_findings(plan)]
    found += [("EC006", subject) for subject, prop in _lint_paths(plan) if not is_snake_case(prop.name)]
    return [key for key in dict.fromkeys(found) if key not in EXCEPTIONS]


def _event_name_findings(plan: PlanDraft) -> list[Finding]:
    """What lint's naming rules find in the plan's event strings and constants."""
    tracks = [(spec.class_name, spec.name) for spec in plan.specs if spec.kind == "track"]
    if not tracks:
        return []
    # Built at run time from the plan's names, which mypy cannot read: it is only handed to lint.
    events = StrEnum("ImportedEvents", tracks)  # type: ignore[misc]
    return name_findings(events)


def _lint_paths(plan: PlanDraft) -> Iterator[tuple[str, PropertyDraft]]:
    """Each spec's properties by the subject lint names them with: `Spec.path`, a nested model's
    fields under the property that holds them (`OrderCompleted.shipping.streetName`)."""

    def walk(
        prefix: str, holder: SpecDraft | ModelDraft, walking: frozenset[int]
    ) -> Iterator[tuple[str, PropertyDraft]]:
        for prop in holder.properties:
            yield f"{prefix}.{prop.name}", prop
            model = _held_model(prop.type)
            if model is not None and id(model) not in walking:
                yield from walk(f"{prefix}.{prop.name}", model, walking | {id(model)})

    for spec in plan.specs:
        yield from walk(spec.class_name, spec, frozenset())


def _every_property(plan: PlanDraft) -> Iterator[tuple[str, PropertyDraft]]:
    """Each property once, with the class it belongs to: a nested model may serve several specs."""
    owners: list[SpecDraft | ModelDraft] = [*plan.specs, *plan.models]
    for owner in owners:
        for prop in owner.properties:
            yield owner.class_name, prop


def _check(builder: DraftBuilder) -> None:
    plan = builder.plan
    _fill_defaults(builder)
    _check_names(builder)
    constants = {spec.name: spec.class_name for spec in plan.specs if spec.kind == "track"}
    constants.update({str(member): member.name for member in SegmentEvent if str(member) not in constants})
    for spec in plan.specs:
        spec.status = spec.status.strip().lower() or str(Status.ACTIVE)
        if spec.replaced_by:
            spec.replaced_by_constant = constants.get(spec.replaced_by)
            if spec.replaced_by_constant is None:
                note = f'replaced by "{spec.replaced_by}", which is neither in the plan nor in the catalog'
                spec.notes.append(note + ": add replaced_by= once it is")
                builder.warn(f"{spec.name}: {note}")
        if spec.replaced_by_constant and spec.status != "deprecated":
            spec.notes.append("lint EC014: names a replacement but is not deprecated")
            builder.warn(
                f'{spec.name}: lint EC014 names a replacement ("{spec.replaced_by}") but is not deprecated'
            )
        if spec.status not in STATUSES:
            spec.notes.append(f"the plan's status {spec.status!r} is not {_STATUS_CHOICES}: active")
            builder.warn(f"{spec.name}: the status {spec.status!r} is not {_STATUS_CHOICES}: active")
            spec.status = str(Status.ACTIVE)
    _check_members(builder)
    known = [
        spec.name
        for spec in plan.specs
        if spec.name in (CATALOG.events if spec.kind == "track" else CATALOG.identifiers)
    ]
    if known:
        builder.warn(
            f"{counted(len(known), 'spec')} already in the catalog ({', '.join(known)}): leave them out when "
            "you paste, or they are defined twice (lint EC003, EC009)"
        )
    made_up = sum(prop.example_made_up for _, prop in _every_property(plan))
    if made_up:
        builder.warn(
            f"{counted(made_up, 'property')} without an example in the plan: each gets a made-up one, "
            'marked "# made-up example"'
        )
    _check_personal_data_said(builder)


PERSONAL_DATA_ANSWERS = (
    "write personal_data=False in its prop(...) if it holds none, personal_data=True to mask it whole "
    "in the audit log, or declare its fields (a nested model) instead of a free-form type"
)
"""How a free-form property settles lint's EC017, as the import's warning says it."""


def _check_personal_data_said(builder: DraftBuilder) -> None:
    """Name, in one warning, the free-form properties the plan left without a personal-data answer.

    The plan cannot give one for them (a CSV's blank cell, a Segment plan without
    `"x-personal-data": false`), so the module is written without it and `event-catalog lint` then
    fails with EC017 on each: the warning says so up front, with the ways to answer.
    """
    # By class and name: a nested model several specs hold is one class to edit, named once.
    unsaid = {
        f"{owner}.{prop.name}": prop
        for spec in builder.plan.specs
        for owner, prop in _unsaid_free_form(spec.class_name, spec)
    }
    if not unsaid:
        return
    for prop in unsaid.values():
        prop.notes.append(
            "lint EC017: say whether it holds personal data: personal_data=False (none) or True "
            "(masked whole), or declare its fields"
        )
    names = ", ".join(unsaid)
    one = len(unsaid) == 1
    builder.warn(
        f"lint EC017 fails until you decide: {counted(len(unsaid), 'free-form property')} "
        f"{'does' if one else 'do'} not say whether {'it holds' if one else 'they hold'} personal data "
        f"({names}): {'' if one else 'for each, '}{PERSONAL_DATA_ANSWERS}"
    )


def _unsaid_free_form(
    owner: str, holder: SpecDraft | ModelDraft, walking: frozenset[int] = frozenset()
) -> Iterator[tuple[str, PropertyDraft]]:
    """The free-form properties under `holder` that lint's EC017 will report, with their class, as
    lint reads them: nothing under a personal-data property (it is masked whole), and the fields of
    the nested models a property holds, each model once on a path (`walking`), as `_lint_paths`
    walks them: a model holding itself is not followed round."""
    for prop in holder.properties:
        if prop.personal_data:
            continue
        if is_free_form_draft(prop.type):
            if not prop.says_not_personal:
                yield owner, prop
        elif (model := _held_model(prop.type)) is not None and id(model) not in walking:
            yield from _unsaid_free_form(model.class_name, model, walking | {id(model)})


def _held_model(draft: TypeDraft) -> ModelDraft | None:
    """The nested model a type holds, alone or as a list's items."""
    while draft.kind == "list" and draft.item is not None:
        draft = draft.item
    return draft.model if draft.kind == "model" else None


def _check_names(builder: DraftBuilder) -> None:
    """Report the names that break lint's rules; never rename them (production data may use them)."""
    tracks = {spec.class_name: spec for spec in builder.plan.specs if spec.kind == "track"}
    for finding in _event_name_findings(builder.plan):
        if (finding.code, finding.subject) not in EXCEPTIONS:
            tracks[finding.subject].name_notes.append(f"lint {finding.code}: {finding.message}")
            builder.warn(f"{finding.subject}: lint {finding.code} {finding.message}")
    for spec in builder.plan.specs:
        if not spec.description.strip():
            builder.warn(f"{spec.class_name}: no description in the plan (lint EC005)")
    for owner, prop in _every_property(builder.plan):
        subject = f"{owner}.{prop.name}"
        if not is_snake_case(prop.name):
            prop.notes.append("lint EC006: property name should be snake_case; it is the plan's")
            builder.warn(f"{subject}: lint EC006 property name should be snake_case")
        if not prop.description.strip():
            prop.notes.append("no description in the plan: write one (lint EC005)")
            builder.warn(f"{subject}: no description in the plan (lint EC005)")
        if looks_personal(prop.name) and not prop.personal_data:
            prop.notes.append("named like personal data, but the plan says it is not (lint EC013)")
            builder.warn(f"{subject}: lint EC013 named like personal data, but the plan says it is not")


def _check_members(builder: DraftBuilder) -> None:
    """The categories and teams the plan names that `analytics.spec` does not have yet."""
    known = {"Category": {str(member) for member in Category}, "Team": {str(member) for member in Team}}
    wanted = {"Category": [spec.category for spec in builder.plan.specs if spec.kind == "track"]}
    wanted["Team"] = [spec.owner for spec in builder.plan.specs]
    for enum, values in wanted.items():
        for value in dict.fromkeys(values):
            if value not in known[enum]:
                builder.plan.new_members.append(f"{enum}.{member_name(value)} = {json.dumps(value)}")
                builder.warn(f'{enum} has no "{value}": add {enum}.{member_name(value)} to analytics/spec.py')


def _fill_defaults(builder: DraftBuilder) -> None:
    """Fill in the category and owner a plan does not give, one warning for each."""
    for attribute, default, kinds in (
        ("category", DEFAULT_CATEGORY, ("track",)),
        ("owner", DEFAULT_OWNER, ("track", "identify")),
    ):
        missing = [spec for spec in builder.plan.specs if spec.kind in kinds and not getattr(spec, attribute)]
        for spec in missing:
            setattr(spec, attribute, default)
        if missing:
            names = ", ".join(spec.name for spec in missing)
            builder.warn(f'the plan names no {attribute} for {names}: "{default}" is written; change it')
