"""The base of specs and scopes: a frozen, strict pydantic model whose copies are checked too.

Pydantic's `model_copy(update={…})` sets the updated values as they are: `spec.model_copy(update=
{"scope": other_scope})` or `scope.model_copy(update={"cluster_id": -5})` made a spec that no
constructor would, and `track` audited and sent it (another scope's ids, an id of -5, a key the
event does not have). A copy here goes through the same validation as building the model, so "the
same event for another cluster" can be written the way pydantic's documentation suggests.
`model_construct`, pydantic's explicit "trusted data, no checks" door, stays as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from pydantic import BaseModel, ConfigDict
from pydantic.fields import FieldInfo


class CheckedModel(BaseModel):
    """Immutable, no unknown fields, and copies with changes validated like a new instance."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy; with `update`, a new instance of the same class validated from the merged fields.

        Raises:
            pydantic.ValidationError: an updated value fails the field's checks, or names no field.
        """
        copied = super().model_copy(deep=deep)
        if not update:
            return copied
        fields = type(self).model_fields
        # Keyed by field name, as pydantic's `update` is; validation reads an aliased field by its alias.
        merged = {**dict(copied), **update}
        return self.model_validate(
            {
                _input_key(fields[name], name) if name in fields else name: value
                for name, value in merged.items()
            }
        )


def _input_key(field: FieldInfo, name: str) -> str:
    """The key a field is validated from: its validation alias (`alias=` sets it too), or its name.

    A field whose validation alias is an `AliasChoices` or `AliasPath` is read by its name: with
    neither `populate_by_name` set nor a string to put the value under, such a field cannot be copied
    with changes, and pydantic's error says it is missing."""
    alias = field.validation_alias
    return alias if isinstance(alias, str) else name
