"""Why the audit log could not record a message: the message's own fault, or the database's.

The two call for opposite handling. A database that is down or failing over is retried and, if it
stays away, costs the whole batch; a message the database refuses by its content (a reused
`messageId`, a NUL character PostgreSQL cannot store, a value JSON cannot write) fails the same way
on every attempt and must be split from its batch and lost alone, so that one bad value does not
take nineteen good messages with it. Both are told to the caller as an `AuditWriteError`, worded
by the database's own one-line reason rather than SQLAlchemy's text, which quotes the statement
and its parameters (the whole payload) and would flood a log line or a page.
"""

from __future__ import annotations

import re

from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError, StatementError

from analytics.errors import AuditWriteError

_MESSAGE_FAULTS = (IntegrityError, DataError, TypeError, ValueError)

_SQLITE_READONLY = 8
"""SQLite's primary result code for a write to a database opened read-only; its extended codes
(`SQLITE_READONLY_DIRECTORY`, …) keep it in their low byte."""

_READ_ONLY_TRANSACTION = "25006"
"""PostgreSQL's SQLSTATE for a write to a read-only transaction (a standby, or
`default_transaction_read_only`): refused whatever is written."""
_INSUFFICIENT_PRIVILEGE = "42501"
"""PostgreSQL's SQLSTATE for a statement this role was not granted: a write without INSERT, but
also a read without SELECT."""
_WRITES = re.compile(r"\b(?:INSERT|UPDATE|DELETE|MERGE|FOR SHARE|FOR KEY SHARE)\b")
"""A keyword of a statement that needs writes, anywhere in it: a data-modifying `WITH` starts with
`WITH`, and PostgreSQL asks UPDATE of a row lock (`SELECT … FOR UPDATE`, `FOR SHARE`). Keywords only
in capitals, as SQLAlchemy writes them: the project's names are lower case (`updated_at`)."""


def is_message_fault(error: BaseException) -> bool:
    """Whether the message itself is refused (retrying cannot help), rather than the database failing."""
    if isinstance(error, _MESSAGE_FAULTS):
        return True
    # A bind parameter that could not be converted (a JSON value that cannot be written) arrives
    # wrapped in a StatementError.
    return isinstance(error, StatementError) and isinstance(error.orig, (TypeError, ValueError))


def refuses_writes(error: BaseException) -> bool:
    """Whether the database refused a write because this connection may not write at all (a
    read-only SQLite file, a standby, a PostgreSQL role without INSERT), rather than because it is
    down or busy. A denied privilege is a refused write only when the statement writes: a role
    missing SELECT on one table is refused its reads with the same SQLSTATE (`denies_access`)."""
    cause = _cause(error)
    code = getattr(cause, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF == _SQLITE_READONLY
    sqlstate = getattr(cause, "sqlstate", None)
    return sqlstate == _READ_ONLY_TRANSACTION or (sqlstate == _INSUFFICIENT_PRIVILEGE and _writes(error))


def denies_access(error: BaseException) -> bool:
    """Whether PostgreSQL refused this role a statement that does not write (or one it cannot tell),
    for want of a privilege: a SELECT on a table it was not granted. Granting writes would not help."""
    return getattr(_cause(error), "sqlstate", None) == _INSUFFICIENT_PRIVILEGE and not _writes(error)


def _cause(error: BaseException) -> object:
    """The driver's error under SQLAlchemy's."""
    return getattr(error, "orig", None) if isinstance(error, SQLAlchemyError) else error


def _writes(error: BaseException) -> bool:
    """Whether the statement that failed needs writes (False when it is not known)."""
    statement = getattr(error, "statement", None)
    return isinstance(statement, str) and _WRITES.search(statement) is not None


def reason(error: BaseException) -> str:
    """The one-line reason: the driver's own message for a database error (with PostgreSQL's
    DETAIL, which says what was refused), the error's text otherwise."""
    cause = getattr(error, "orig", None) if isinstance(error, SQLAlchemyError) else None
    cause = cause or error
    lines = [line.strip() for line in str(cause).strip().splitlines()]
    if not lines:
        return type(cause).__name__
    details = [line.removeprefix("DETAIL:").strip() for line in lines[1:] if line.startswith("DETAIL:")]
    return "; ".join([lines[0], *details])


def audit_write_error(error: BaseException) -> AuditWriteError:
    """What the caller is told: the message cannot be audited, or the audit log is unavailable."""
    if is_message_fault(error):
        return AuditWriteError(f"message cannot be audited: {reason(error)}")
    return AuditWriteError(f"audit log unavailable: {reason(error)}")
