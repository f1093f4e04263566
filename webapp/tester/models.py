"""The tester's own tables: its sends (for idempotency and round-trip times) and the team's scope presets.

Both are dashboard-only, on the shared declarative base, so one migration history covers them and
the audit log. A send's outcome itself lives in the audit log; nothing here duplicates it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, String
from sqlalchemy.orm import Mapped, mapped_column

from analytics.audit import BigId
from webapp.extensions import db


class TesterSend(db.Model):  # type: ignore[name-defined,misc]
    """One message fired from the tester (the form, its API or `event-catalog send`).

    Attributes:
        message_id: the message's id; its audit entry holds the status and payload.
        form_token: the token of the form that sent it, unique, so a double submit finds the first
            send instead of sending again. None for the command line, which has no form.
        request_digest: the fingerprint of what was asked (`sending.request_digest`), so a token
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

    A preset holds the ids of one chain (user → project → cluster and/or registry → application);
    applying it fills the ids an event's scope needs and leaves the others for the engineer.

    Attributes:
        name: unique display name.
        user_id: every scope starts with a user.
        created_by: the actor who saved it.
    """

    __tablename__ = "scope_presets"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    project_id: Mapped[int | None] = mapped_column(BigInteger)
    cluster_id: Mapped[int | None] = mapped_column(BigInteger)
    registry_id: Mapped[int | None] = mapped_column(BigInteger)
    app_name: Mapped[str | None] = mapped_column(String(255))
    app_namespace: Mapped[str | None] = mapped_column(String(255))
    chart_name: Mapped[str | None] = mapped_column(String(255))
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
