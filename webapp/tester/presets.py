"""Scope presets: named sets of ids the team saves once and applies in one click.

A preset holds one chain of ids (user → project → cluster and/or registry → application, or a scope
a fork adds): any field of any registered scope (`analytics.scopes.SCOPES`), validated by the scopes
themselves. Applied to an event, it fills exactly the ids the event's scope needs; a preset at a
wider scope fills what it has and leaves the rest for the engineer, with a note saying what is still
needed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails
from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError

from analytics.scopes import SCOPES, UserScope
from webapp.auth import accounts
from webapp.extensions import db
from webapp.readable_names import compared, hidden, unreadable
from webapp.tester.forms import scope_error_words
from webapp.tester.models import ScopePreset


class _PresetName(BaseModel):
    """A preset's name: what the list and the tester's chips show."""

    model_config = ConfigDict(str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=80)

    @field_validator("name", mode="before")
    @classmethod
    def _composed(cls, name: object) -> object:
        """Stored composed (NFC): `Café` typed with an accent key or a combining accent is one name."""
        return unicodedata.normalize("NFC", name) if isinstance(name, str) else name

    @field_validator("name")
    @classmethod
    def _reads_as_written(cls, name: str) -> str:
        """A name that would not read as typed, or would look like another, is refused (see
        `webapp.readable_names`)."""
        problem = unreadable(name) or hidden(name)
        if problem is not None:
            raise ValueError(problem)
        return name


@dataclass(frozen=True)
class PresetIds:
    """A preset's name and ids, validated with the scopes' own constraints.

    Attributes:
        name: the preset's name.
        ids: the ids by scope field name, widest scope first, as the scopes hold them (an id as a
            number, an application's name as text).
    """

    name: str
    ids: dict[str, Any]


def id_fields() -> list[str]:
    """Every scope field a preset can hold, widest scope first: the presets page's inputs."""
    return list(SCOPES.id_fields())


def number_fields() -> frozenset[str]:
    """The scope fields that are ids (numbers) rather than names (text)."""
    return frozenset(
        name for scope in SCOPES for name, field in scope.model_fields.items() if field.annotation is int
    )


def parse_preset(values: dict[str, Any]) -> tuple[PresetIds | None, dict[str, str]]:
    """Validate a preset's fields; empty strings are unset. Returns it, or errors by field name (ids
    that do not make one chain by the field still to fill)."""
    # Stripped as the tester strips what it sends: a scope id is digits alone (`ScopeId`).
    cleaned = {
        k: str(v).strip() for k, v in values.items() if k in ("name", *id_fields()) and str(v or "").strip()
    }
    errors: dict[str, str] = {}
    name = None
    try:
        name = _PresetName.model_validate({k: v for k, v in cleaned.items() if k == "name"}).name
    except ValidationError as exc:
        errors["name"] = _name_problem(exc.errors()[0])
    ids = _chain({k: v for k, v in cleaned.items() if k != "name"}, errors)
    if errors or name is None:
        return None, errors
    return PresetIds(name, ids), {}


def _own_fields(scope: type[UserScope]) -> list[str]:
    """The fields a scope adds to its parent's."""
    parent = scope.parent()
    return [name for name in scope.model_fields if parent is None or name not in parent.model_fields]


def _chain(given: dict[str, str], errors: dict[str, str]) -> dict[str, Any]:
    """The ids as the scopes validate them, widest first; problems go into `errors`.

    Every preset has a user. Each narrower scope whose own ids are given needs the whole of itself:
    a cluster id needs its project id, an application its name, namespace and chart together. Each
    scope validates its own ids, so a preset takes exactly what the scope takes. A chain's gap is said
    next to each field to fill, and an id in the tester's words (`scope_error_words`), so that the
    page and the tester say the same of the same id.
    """
    ids: dict[str, Any] = {}
    named: set[str] = set()
    for scope in SCOPES:
        own = _own_fields(scope)
        if scope.parent() is not None and not any(name in given for name in own):
            continue
        missing = [name for name in scope.model_fields if name not in given]
        wider = [name for name in missing if name not in own and name not in named]
        named.update(own)
        if scope.parent() is not None and wider:
            given_own = [name for name in own if name in given]
            said = (
                f"{_article(_words(given_own))} {_words(given_own)} needs the {_words(wider)} it belongs to"
                if len(given_own) == 1
                else f"the {_words(given_own)} need the {_words(wider)} they belong to"
            )
            _to_fill(errors, wider, said)
            continue
        if scope.parent() is not None and any(name in missing for name in own):
            label = scope.label.lower()
            together = f"{_article(label)} {label} needs its {_words(own)} together"
            _to_fill(errors, [name for name in own if name in missing], together)
            continue
        try:
            built = scope.model_validate({name: given[name] for name in scope.model_fields if name in given})
        except ValidationError as exc:
            for error in exc.errors():
                name = str(error["loc"][0])
                if name in own:
                    errors.setdefault(name, scope_error_words(scope, name, error))
            continue
        ids.update(built.model_dump())
    return ids


def _words(fields: list[str]) -> str:
    """Field names as a sentence says them: `cluster id and registry id`."""
    words = [name.replace("_", " ") for name in fields]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _article(words: str) -> str:
    """`a` or `an` before `words`, as they are said (`an app name`, `a cluster id`)."""
    return "an" if words[:1].lower() in "aeiou" else "a"


def _to_fill(errors: dict[str, str], fields: list[str], why: str) -> None:
    """A chain's gap, said next to each field that fills it ("Enter the project id: a cluster id
    needs …"): a notice under the form named no field, and marked none invalid."""
    for name in fields:
        errors.setdefault(name, f"Enter the {_words([name])}: {why}.")


_TO_ENTER = re.compile(r"Enter the (?P<field>[a-z ]+): (?P<why>.+)\.")
"""A field's "Enter the …: why." (`_to_fill`, and an empty id's words), to be said once for all the
fields that share the reason."""


def in_one_line(problems: list[str]) -> str:
    """The problems of a preset as one line (the tester's, under Save preset), each once: a gap that
    two fields fill is said for both ("Enter the app namespace and chart name: an application needs
    …"), where each field's own sentence said the reason again."""
    said: dict[str, list[str]] = {}  # a reason (or a whole sentence) → the fields that share it
    for problem in problems:
        found = _TO_ENTER.fullmatch(problem)
        if found is None:
            said.setdefault(problem.rstrip("."), [])
        else:
            said.setdefault(found["why"], []).append(found["field"])
    sentences = [f"Enter the {_words(fields)}: {why}" if fields else why for why, fields in said.items()]
    return ". ".join(sentences) + "."


def _name_problem(error: ErrorDetails) -> str:
    """What the name field says: of an empty one, the words of the dashboard's other forms ("Enter
    an email."), not pydantic's "Field required"; of a refused one, its validator's words."""
    if error["type"] == "missing":
        return "Give the preset a name."
    return str(error["msg"]).removeprefix("Value error, ")


def create_preset(ids: PresetIds, *, created_by: str) -> ScopePreset | None:
    """Save a preset; None when the name is already taken (as `webapp.readable_names.compared` compares
    names: composed, case-folded, on both databases alike)."""
    taken = db.session.scalar(find_preset(ids.name).with_only_columns(ScopePreset.id))
    if taken is not None:
        return None
    preset = ScopePreset(name=ids.name, ids=ids.ids, created_by=created_by, created_at=datetime.now(UTC))
    db.session.add(preset)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return None
    _audit("Scope Preset Saved", _described(preset), actor=created_by)
    return preset


def find_preset(name: str) -> Select[ScopePreset]:
    """The preset named `name` as saving compares names, so `send --preset cafe\u0301` finds `Café`."""
    return select(ScopePreset).where(ScopePreset.name_key == compared(name))


def delete_preset(preset: ScopePreset, *, actor: str) -> None:
    """Delete a preset the team shares, and record who did: anyone may, so the log says who."""
    described = _described(preset)
    db.session.delete(preset)
    db.session.commit()
    _audit("Scope Preset Deleted", described, actor=actor)


def _audit(name: str, described: dict[str, Any], *, actor: str) -> None:
    """Record a preset action with the preset's user id as the entry's `userId` (a string, as
    Segment's), so the audit log's User id filter lists it beside that user's messages; its project
    and cluster ids fill their filter columns from the recorded properties."""
    user_id = described.get("user_id")
    accounts.audit(name, actor=actor, properties=described, user_id=None if user_id is None else str(user_id))


def _described(preset: ScopePreset) -> dict[str, Any]:
    """A preset as its audit entries record it: its name and ids, and who saved it."""
    return {"name": preset.name, **preset_values(preset), "created_by": preset.created_by}


def preset_values(preset: ScopePreset) -> dict[str, Any]:
    """The ids a preset holds, by scope field name, widest scope first.

    Only the fields of the scopes the catalog has: the id of a scope since taken out of the code
    stays stored, but is neither shown nor applied.
    """
    return {name: preset.ids[name] for name in id_fields() if preset.ids.get(name) is not None}


def summary(preset: ScopePreset) -> str:
    """The preset's ids in a few words: `user 1 · project 12 · cluster 4`."""
    parts = [
        f"{name.removesuffix('_id').replace('_', ' ')} {value}"
        for name, value in preset_values(preset).items()
    ]
    return " · ".join(parts)


def level(preset: ScopePreset) -> str:
    """The narrowest scopes the preset can fill completely (`Cluster and Registry`)."""
    values = preset_values(preset)
    filled = [scope for scope in SCOPES if all(name in values for name in scope.model_fields)]
    narrowest = [s for s in filled if not any(o is not s and issubclass(o, s) for o in filled)]
    return " and ".join(scope.label for scope in narrowest)


FILTER_AT = 9
"""From this many presets the tester offers a box that filters them by name."""


def for_scope(
    presets: Sequence[ScopePreset], scope: type[UserScope]
) -> tuple[list[ScopePreset], list[ScopePreset]]:
    """The presets that fill every id of `scope`, in their order, and the others, those that fill
    more of its ids first.

    With 80 presets over five chains the tester showed all 80 on every event, 64 of which could not
    fill an invoice's scope: it shows the first list and folds the second.
    """
    needed = list(scope.model_fields)
    fitting: list[ScopePreset] = []
    others: list[tuple[int, ScopePreset]] = []
    for preset in presets:
        filled = sum(name in preset_values(preset) for name in needed)
        if filled == len(needed):
            fitting.append(preset)
        else:
            others.append((filled, preset))
    others.sort(key=lambda pair: -pair[0])
    return fitting, [preset for _, preset in others]
