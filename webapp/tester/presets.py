"""Scope presets: named sets of ids the team saves once and applies in one click.

A preset holds one chain of ids (user → project → cluster and/or registry → application). Applied
to an event, it fills exactly the ids the event's scope needs; a preset at a wider scope fills what
it has and leaves the rest for the engineer, with a note saying what is still needed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from analytics.scopes import MAX_ID, ApplicationScope, ClusterScope, RegistryScope, ScopeId
from webapp.auth import accounts
from webapp.extensions import db
from webapp.readable_names import unreadable
from webapp.tester.models import ScopePreset

ID_FIELDS = ("user_id", "project_id", "cluster_id", "registry_id", "app_name", "app_namespace", "chart_name")
APP_FIELDS = ("app_name", "app_namespace", "chart_name")


class PresetIds(BaseModel):
    """A preset's name and ids, validated with the scopes' own constraints."""

    model_config = ConfigDict(str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=80)
    user_id: int = ClusterScope.model_fields["user_id"]
    project_id: ScopeId | None = Field(default=None, gt=0, le=MAX_ID)
    cluster_id: ScopeId | None = Field(default=None, gt=0, le=MAX_ID)
    registry_id: ScopeId | None = Field(default=None, gt=0, le=MAX_ID)
    app_name: str | None = Field(default=None, min_length=1)
    app_namespace: str | None = Field(default=None, min_length=1)
    chart_name: str | None = Field(default=None, min_length=1)

    @field_validator("name")
    @classmethod
    def _reads_as_written(cls, name: str) -> str:
        """A name that would not read as typed is refused (see `webapp.readable_names`)."""
        problem = unreadable(name)
        if problem is not None:
            raise ValueError(problem)
        return name

    @model_validator(mode="after")
    def _one_chain(self) -> Self:
        """Each id needs the ids its scope sits in: a cluster needs its project, an app its cluster."""
        if (self.cluster_id or self.registry_id) and not self.project_id:
            raise ValueError("a cluster or registry id needs the project id it belongs to")
        if any(getattr(self, name) for name in APP_FIELDS):
            if not self.cluster_id:
                raise ValueError("application fields need the cluster id the application runs on")
            if not all(getattr(self, name) for name in APP_FIELDS):
                raise ValueError("an application needs its name, namespace and chart together")
        return self


def parse_preset(values: dict[str, Any]) -> tuple[PresetIds | None, dict[str, str]]:
    """Validate a preset's fields; empty strings are unset. Returns it, or errors by field name."""
    # Stripped as the tester strips what it sends: a scope id is digits alone (`ScopeId`).
    cleaned = {
        k: str(v).strip() for k, v in values.items() if k in ("name", *ID_FIELDS) and str(v or "").strip()
    }
    try:
        return PresetIds.model_validate(cleaned), {}
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            key = str(error["loc"][0]) if error["loc"] else "preset"
            errors.setdefault(key, str(error["msg"]).removeprefix("Value error, "))
        return None, errors


def create_preset(ids: PresetIds, *, created_by: str) -> ScopePreset | None:
    """Save a preset; None when the name is already taken (case-insensitively)."""
    taken = db.session.scalar(select(ScopePreset.id).where(func.lower(ScopePreset.name) == ids.name.lower()))
    if taken is not None:
        return None
    preset = ScopePreset(**ids.model_dump(), created_by=created_by, created_at=datetime.now(UTC))
    db.session.add(preset)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return None
    accounts.audit("Scope Preset Saved", actor=created_by, properties=_described(preset))
    return preset


def delete_preset(preset: ScopePreset, *, actor: str) -> None:
    """Delete a preset the team shares, and record who did: anyone may, so the log says who."""
    described = _described(preset)
    db.session.delete(preset)
    db.session.commit()
    accounts.audit("Scope Preset Deleted", actor=actor, properties=described)


def _described(preset: ScopePreset) -> dict[str, Any]:
    """A preset as its audit entries record it: its name and ids, and who saved it."""
    return {"name": preset.name, **preset_values(preset), "created_by": preset.created_by}


def preset_values(preset: ScopePreset) -> dict[str, Any]:
    """The ids a preset holds, by scope field name."""
    return {name: getattr(preset, name) for name in ID_FIELDS if getattr(preset, name) is not None}


def summary(preset: ScopePreset) -> str:
    """The preset's ids in a few words: `user 1 · project 12 · cluster 4`."""
    parts = [
        f"{name.removesuffix('_id').replace('_', ' ')} {value}"
        for name, value in preset_values(preset).items()
    ]
    return " · ".join(parts)


def level(preset: ScopePreset) -> str:
    """The narrowest scope the preset can fill completely."""
    if preset.app_name:
        return ApplicationScope.label
    labels = [
        s.label
        for s, field in ((ClusterScope, "cluster_id"), (RegistryScope, "registry_id"))
        if getattr(preset, field)
    ]
    if labels:
        return " and ".join(labels)
    return "Project" if preset.project_id else "User"
