"""An identify spec as an application declares its own, outside the catalog package.

Such a spec joins no registry of the catalog and its messages carry the catalog's version
(`ForeignSpecWarning`): `drift` reports its calls as `unknown-identify`, and the audit search finds
them as `Identify: BoardlySignup`. Its registry is its own, so defining it here raises no warning.
"""

from __future__ import annotations

from analytics.audit import AuditStatus, AuditStore
from analytics.messages import build_message
from analytics.scopes import UserScope
from analytics.spec import IdentifySpec, SpecRegistry, Team, prop


class BoardlySignup(IdentifySpec, name="Boardly signup", owner=Team.IDENTITY, registry=SpecRegistry()):
    """A user signed up to Boardly, an application of the host's."""

    scope: UserScope
    plan: str = prop("The plan chosen.", example="team")


def record_boardly_signup(store: AuditStore, user_id: int) -> str:
    """Record one delivered call of the application's own identify spec; its message id."""
    message = build_message(BoardlySignup(scope=UserScope(user_id=user_id), plan="team"))
    store.record(message, status=AuditStatus.DELIVERED, source="application")
    return str(message["messageId"])
