"""A spec's examples: the valid spec they build, and what is wrong with them when they build none.

Examples feed the catalog's example message and Python snippet, the tester's "Fill with example" and
the exports. Nothing checks them when a spec is defined (pydantic does not validate `examples`), so
an example outside its own field's bounds (`example=5000` with `le=1000`) passed until a page built
the example spec and failed. `event-catalog lint` reports such examples (EC016) from here, and the
pages ask `example_problem` before building one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from copy import copy
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError, create_model
from pydantic.fields import FieldInfo

from analytics.nested import field_paths
from analytics.scopes import UserScope

if TYPE_CHECKING:
    from analytics.spec import IdentifySpec, TrackSpec


def describe_errors(error: ValidationError, *, skip: int = 0) -> str:
    """Pydantic's errors in one line, each after its path (`seats: Input should be …`).

    Args:
        error: what pydantic raised.
        skip: leading steps of each error's location to leave out (a wrapper's own field).
    """
    parts = []
    for item in error.errors():
        path = ".".join(str(step) for step in item["loc"][skip:])
        parts.append(f"{path}: {item['msg']}" if path else str(item["msg"]))
    return "; ".join(parts)


def field_example_problem(field: FieldInfo) -> str | None:
    """Why a field's first example does not validate against the field's own type and constraints,
    or None when it does (or the field has no example)."""
    if not field.examples:
        return None
    # A one-field model carries the field's constraints as declared; the field's type alone would not.
    annotation: Any = field.annotation
    check: type[BaseModel] = create_model("Example", value=(annotation, copy(field)))
    try:
        check.model_validate({"value": field.examples[0]})
    except ValidationError as exc:
        return describe_errors(exc, skip=1)
    return None


def field_example_problems(fields: Mapping[str, FieldInfo]) -> Iterator[tuple[str, str]]:
    """The fields (nested models' too, by path) whose example does not validate, with why."""
    for path, field in field_paths(fields):
        problem = field_example_problem(field)
        if problem is not None:
            yield path, problem


def example_scope(scope: type[UserScope]) -> UserScope:
    """The scope built from its ids' examples.

    Raises:
        pydantic.ValidationError: an id's example does not validate, or has none.
    """
    return scope(**{name: f.examples[0] for name, f in scope.model_fields.items() if f.examples})


def build_example(spec: type[TrackSpec] | type[IdentifySpec]) -> TrackSpec | IdentifySpec:
    """The spec built from the examples of its scope and properties.

    Raises:
        pydantic.ValidationError: the examples do not make a valid spec (see `example_problem`).
    """
    values: dict[str, Any] = {name: f.examples[0] for name, f in spec.own_fields().items() if f.examples}
    return spec(scope=example_scope(spec.scope_class()), **values)


def example_problem(spec: type[TrackSpec] | type[IdentifySpec]) -> str | None:
    """Why the spec's examples do not make a valid spec, in one line; None when they do."""
    try:
        build_example(spec)
    except ValidationError as exc:
        return describe_errors(exc)
    return None
