"""The tester's own tables: its sends (for idempotency and round-trip times) and the team's scope presets.

Both are dashboard-only, on the shared declarative base, so one migration history covers them and
the audit log. A send's outcome itself lives in the audit log; nothing here duplicates it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, String
from sqlalchemy.orm import Mapped, mapped_column, validates

from analytics.audit import BigId
from webapp.extensions import db
from webapp.readable_names import compared


class TesterSend(db.Model):  # type: ignore[name-defined,misc]
    """One message fired from the tester (the form, its API or `event-catalog send`).

    Attributes:
        message_id: the message's id; its audit entry holds the status and payload.
        form_token: the token of the form that sent it, unique, so a double submit finds the first
            send instead of sending again. None for the command line, which has no form.
        request_digest: the fingerprint of what was asked (`request_digests.request_digest`), so a token
            reused for other values is refused rather than taken for a repeat. None before 0009.
        actor: who fired it.
        round_trip_ms: the time from handing the message over to knowing its outcome.
        created_at: when the send was claimed, before the message was audited.
    """

    __tablename__ = "tester_sends"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    form_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    request_digest: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(255))
    round_trip_ms: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime]


class ScopePreset(db.Model):  # type: ignore[name-defined,misc]
    """A named set of scope ids the team shares, e.g. "staging · project 12 · cluster 4".

    A preset holds the ids of one chain (user → project → cluster and/or registry → application, or
    the scopes a fork adds); applying it fills the ids an event's scope needs and leaves the others
    for the engineer.

    Attributes:
        name: unique display name.
        name_key: the name as names are compared (`webapp.readable_names.compared`: composed,
            case-folded, without format characters), unique: one rule on SQLite and PostgreSQL, where
            comparing `lower(name)` folded only ASCII on SQLite (0020). Set from `name`. Two presets
            saved earlier whose names compare alike keep theirs; the later one's key ends in its id.
        ids: the ids by scope field name (`user_id`, `project_id`, `app_name`, …): one JSON object
            rather than a column per id, so that a scope added to the catalog needs no migration
            (migration 0018). Every preset has a `user_id`; `webapp.tester.presets` validates them.
        created_by: the actor who saved it.
    """

    __tablename__ = "scope_presets"
    # SQLite reuses a deleted largest id without it: a stale page would act on a newer preset (0019).
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    # Case folding lengthens a name at most threefold (`ΐ` folds to three code points): 80 → 240.
    name_key: Mapped[str] = mapped_column(String(255), unique=True)
    ids: Mapped[dict[str, Any]]
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]

    @validates("name")
    def _keyed(self, _key: str, name: str) -> str:
        """Keep `name_key` in step with the name, however the row is made."""
        self.name_key = compared(name)
        return name
