"""Person-initiated actions in the audit log: a failed sign-in, a role change, a user disabled.

They are not Segment messages and never leave the process, but they live in the audit log so that
one search answers "who did what, when" next to what was sent. Each is stored as a message-like
entry — `type` `action`, the action's name as `event`, its details as `properties`, and the
`userId` of the application's user it is about, if any — with status `recorded`, so the audit pages
show and filter them like any other entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from analytics.audit import AuditStatus, AuditStore, Source
from analytics.catalog import CATALOG
from analytics.message_ids import new_message_id
from analytics.messages import CONTEXT_KEY, utc_now_ms

ACTION_TYPE = "action"
"""The audit entry `type` of a recorded action (Segment's own calls are `track`, `identify`, ...)."""

ACCOUNT_ACTIONS = (
    "Login Failed",
    "User Added",
    "User Role Changed",
    "User Disabled",
    "User Enabled",
    "User Password Changed",
    "Password Change Refused",
    "Password Reset Link Created",
    "API Token Created",
    "API Token Revoked",
    "Personal Data Erased",
)
"""Security events about accounts: sign-in failures (with the email typed and the client's
address), passwords, reset links, API tokens, accounts and roles; and erasure requests (`audit
erase`), which name the user id of a person who asked to be forgotten. They tell whoever reads them
who has an account, who is being attacked and from where, who exercised their rights, so the
dashboard shows them to admins only."""

ERASURE_ACTION = "Personal Data Erased"
"""The action an erasure request is recorded as (`analytics.erasure`): who, the user id, how many
entries; never a value it erased."""

PRODUCT_ACTIONS = (
    "Messages Re-sent",
    "Scope Preset Saved",
    "Scope Preset Deleted",
)
"""Actions on the product's own work: a replay run (what it re-sent, where) and the team's tester
presets (the ids they fill). They explain the messages next to them, so every role that reads the
log sees them."""

ACTIONS = (*ACCOUNT_ACTIONS, *PRODUCT_ACTIONS)
"""Every action recorded, by name: what the audit search offers beside the catalog's events.
`build_action` refuses any other name, so a new action is added to one of the two families (which
decides who may read it) or fails its first test."""


def build_action(
    name: str,
    *,
    actor: str,
    properties: Mapping[str, Any],
    source: Source = Source.DASHBOARD,
    user_id: str | None = None,
) -> dict[str, Any]:
    """The message-like record of one action.

    Args:
        name: what happened, in Title Case like an event name (`Login Failed`, `User Role Changed`).
        actor: who did it (an email, `anonymous@<address>`, `cli:<login>`).
        properties: the details a reviewer needs; never a password or a key.
        source: the path it came by.
        user_id: the application's user the action is about (an erasure request's), as its
            `userId`: the search's User id filter then lists it beside that user's messages.

    Returns:
        A JSON-ready dict that `AuditStore.record` accepts.

    Raises:
        ValueError: a name missing from `ACTIONS`.
    """
    if name not in ACTIONS:
        raise ValueError(f"{name!r} is not in analytics.actions.ACTIONS")
    about = {} if user_id is None else {"userId": user_id}
    return {
        "type": ACTION_TYPE,
        "event": name,
        **about,
        "messageId": new_message_id(),
        "timestamp": utc_now_ms().isoformat(timespec="milliseconds"),
        "context": {
            CONTEXT_KEY: {"version": CATALOG.version, "source": str(source), "actor": actor},
        },
        "properties": dict(properties),
    }


def record_action(
    store: AuditStore,
    name: str,
    *,
    actor: str,
    properties: Mapping[str, Any],
    source: Source = Source.DASHBOARD,
    user_id: str | None = None,
) -> str:
    """Write one action to the audit log, in its own transaction.

    Args:
        user_id: the application's user the action is about, as `build_action` takes it.

    Returns:
        The entry's message id.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database refused it.
    """
    message = build_action(name, actor=actor, properties=properties, source=source, user_id=user_id)
    store.record(message, status=AuditStatus.RECORDED, source=source, actor=actor)
    return str(message["messageId"])
