"""A PostgreSQL login role made for one test, with the grants it needs, and dropped after it: the tests
of what a database user that may not do everything meets (only SELECT, no CREATE on the schema)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Sequence

from sqlalchemy import Engine, text


@contextlib.contextmanager
def temporary_role(engine: Engine, prefix: str, grants: Sequence[str]) -> Iterator[str]:
    """Yield the URL of `engine`'s database as a new role, `{prefix}_` and a unique suffix, given each
    of `grants` (`{role}` in them names it); the role and what it owns are dropped afterwards."""
    role = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with engine.begin() as connection:
        connection.execute(text(f"CREATE ROLE {role} LOGIN"))
        for grant in grants:
            connection.execute(text(grant.format(role=role)))
    try:
        yield engine.url.set(username=role).render_as_string(hide_password=False)
    finally:
        with engine.begin() as connection:
            connection.execute(text(f"DROP OWNED BY {role}"))
            connection.execute(text(f"DROP ROLE {role}"))
