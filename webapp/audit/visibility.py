"""What of the audit log the signed-in person may read: the searches they may run, the entries they may open.

The audit pages, their exports and the JSON API (`webapp.audit.api`) all read through these two
functions, so a rule about what a role may see is written once and holds on every URL. Which
personal data a payload shows is decided beside them, in `webapp.audit.personal`.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from analytics.audit import AuditEntry
from analytics.queries import is_personal_key
from webapp.audit.forms import SearchForm
from webapp.auth.policy import allows
from webapp.auth.roles import Role
from webapp.extensions import db

VIEWER_PROP_ERROR = "Searching personal data by its value is for engineers and admins."


def search_form(args: MultiDict[str, str]) -> SearchForm:
    """The search as asked; a viewer's search does not match personal data through its mask.

    Viewers see masks only: matching a guessed email through its mask would tell them who has it
    (the entries' user ids), one guess at a time.
    """
    if allows(Role.ENGINEER):
        return SearchForm.from_args(args, mask_key=str(current_app.config["AUDIT_MASK_KEY"]).encode())
    form = SearchForm.from_args(args, mask_key=None)
    asked = form.filters.prop if form.filters is not None else None
    if asked is not None and is_personal_key(asked.key):
        form.errors["prop"] = VIEWER_PROP_ERROR
        form.filters = None
    return form


def entry_or_404(message_id: str) -> AuditEntry:
    """The entry with this message id, or a 404 that names it."""
    return db.one_or_404(
        select(AuditEntry).where(AuditEntry.message_id == message_id),
        description=f"No audit entry has the message id {message_id!r}.",
    )
