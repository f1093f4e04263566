"""What of the audit log the signed-in person may read: the searches they may run, the entries they may open.

The audit pages (search, counts, histogram, live tail, exports), the re-send widget and the JSON API
(`webapp.audit.api`) all read through these functions, so a rule about what a role may see is written
once and holds on every URL. Which personal data a payload shows is decided beside them, in
`webapp.audit.personal`.

- Personal data matches through its mask for engineers and admins only: a viewer matching a guessed
  email through its mask would learn who has it (the entries' user ids), one guess at a time.
- Account actions (`analytics.actions.ACCOUNT_ACTIONS`: failed sign-ins with the typed email and the
  client's address, password and token changes, accounts and roles) are for admins: the other roles'
  searches leave them out, and their entries answer 403.
"""

from __future__ import annotations

from dataclasses import replace

from flask import abort, current_app
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from analytics.actions import ACCOUNT_ACTIONS, ACTION_TYPE
from analytics.audit import AuditEntry
from analytics.durations import shown_instant
from analytics.retention import PurgeRecord, purges
from webapp.audit.event_names import unknown_event
from webapp.audit.forms import SearchForm
from webapp.auth.policy import allows, require
from webapp.auth.roles import Role
from webapp.extensions import db
from webapp.lookups import echoed

VIEWER_PROP_ERROR = "Searching personal data by its value is for engineers and admins."
ACCOUNT_ACTIONS_REFUSED = "Account and sign-in actions are for admins."


def hidden_actions() -> tuple[str, ...]:
    """The actions the signed-in person may not read: none for an admin."""
    return () if allows(Role.ADMIN) else ACCOUNT_ACTIONS


def search_form(args: MultiDict[str, str]) -> SearchForm:
    """The search as asked, narrowed to what the signed-in person may read.

    A search that asks for what the role may not read (a personal-data value, an account action by
    name), or for an event no catalog or entry names, or an identify call's name as an event
    (`webapp.audit.event_names`), is refused next to its field rather than quietly finding nothing.
    """
    unmasks = allows(Role.ENGINEER)
    mask_key = str(current_app.config["AUDIT_MASK_KEY"]).encode() if unmasks else None
    form = SearchForm.from_args(args, mask_key=mask_key)
    if form.filters is None:
        return form
    asked = form.filters.prop
    if not unmasks and asked is not None and asked.personal:
        form.errors["prop"] = VIEWER_PROP_ERROR
        form.filters = None
        return form
    hidden = hidden_actions()
    if form.filters.event in hidden:
        form.errors["event"] = ACCOUNT_ACTIONS_REFUSED
        form.filters = None
        return form
    if unknown := unknown_event(db.session, form.filters, hidden=hidden):
        form.errors["event"] = unknown
        form.filters = None
        return form
    form.filters = replace(form.filters, hidden_actions=hidden)
    return form


def entry_or_404(message_id: str) -> AuditEntry:
    """The entry with this message id, or a 404 that names it; 403 (logged) when the role may not read it."""
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.message_id == message_id))
    if entry is None:
        abort(404, description=_not_found(message_id))
    if entry.type == ACTION_TYPE and entry.event in ACCOUNT_ACTIONS:
        require(Role.ADMIN)
    return entry


def _not_found(message_id: str) -> str:
    """Why no entry has this id; after a retention purge, that it may have been one of those it deleted.

    An old link (an incident note, a tester send's page) to a purged entry said only "No audit entry
    has the message id": the log cannot tell which ids it deleted, but its newest purge record says
    which entries it deleted, by when they were recorded.
    """
    said = f"No audit entry has the message id {echoed(message_id)!r}."
    newest = db.session.scalar(purges(newest_first=True).limit(1))
    purge = PurgeRecord.from_entry(newest) if newest is not None else None
    if purge is None:
        return said
    kept = f" --older-than {purge.older_than}" if purge.older_than is not None else ""
    return (
        f"{said} It may have been deleted by retention: the latest purge (event-catalog audit purge{kept}, "
        f"run {shown_instant(purge.ran_at)} by {purge.actor}) deleted the entries recorded before "
        f"{shown_instant(purge.cutoff)}."
    )
