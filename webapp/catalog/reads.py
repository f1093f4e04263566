"""Reading the database from catalog pages without making the catalog depend on it.

The catalog itself lives in code; only its figures (last seen, volumes, recorded versions) come
from the database. A database that is new, unmigrated or down must cost those figures, not the page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import SQLAlchemyError

from analytics.audit_failures import reason
from webapp.extensions import db

log = logging.getLogger(__name__)
T = TypeVar("T")

UNAVAILABLE = (
    "The database cannot be read, so figures from the audit log are missing. "
    "If it is new, run `event-catalog db upgrade`."
)


def read_or_default(read: Callable[[], T], default: T) -> tuple[T, str | None]:
    """Run `read`; on a database error, roll back and return `default` with a message for the page."""
    try:
        return read(), None
    except SQLAlchemyError as exc:
        db.session.rollback()
        log.warning("catalog page without database figures: %s", reason(exc))
        return default, UNAVAILABLE
