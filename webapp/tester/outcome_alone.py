"""A send's answer when what follows the send could not be drawn: its outcome still shows.

After a send the tester draws its answer: the result panel, and the form, presets and recent ids
again (or the next preview). Those reads can fail where the send did not (a replica of an older
release reads a column the migration it has not noticed yet folded away), and the answer was a
500: the engineer, told "internal error" for a message that had been delivered, sent it again and
the destination got a duplicate. The send's outcome is what the answer is for; the rest says it
could not be drawn and what to do.
"""

from __future__ import annotations

import logging

from flask import Response, current_app, make_response, render_template
from sqlalchemy.exc import SQLAlchemyError

from analytics.audit_failures import reason
from analytics.queries import message_name
from webapp.extensions import db
from webapp.htmx import vary_on_htmx
from webapp.schema_guard import recheck_on
from webapp.tester.sending import SendResult
from webapp.tester.shown_json import pretty_json

log = logging.getLogger(__name__)


def outcome_alone(result: SendResult, error: SQLAlchemyError) -> Response:
    """The result panel of a send just made, with a note that the rest of the tester could not be
    drawn: the guard's text when the schema moved on (`recheck_on`), the database's reason otherwise."""
    db.session.rollback()
    why = recheck_on(current_app, db.engine, error) or f"the database refused a read ({reason(error)})."
    log.warning("tester send %s was made; the rest of its answer was not drawn: %s", result.message_id, why)
    response = vary_on_htmx(
        make_response(
            render_template(
                "tester/_outcome_alone.html",
                result=result,
                collector_copy=None,
                received_url=None,
                as_json=pretty_json,
                message_name=message_name,
                why=why,
            )
        )
    )
    response.headers["HX-Retarget"] = "#result-slot"
    response.headers["HX-Reswap"] = "innerHTML"
    return response
