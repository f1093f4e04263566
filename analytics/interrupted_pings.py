"""Pool pre-pings that let an interruption through, instead of an error their clean-up raised.

Every engine on the audit database pings a pooled connection as it is checked out
(`analytics.audit.engine_options`). SQLAlchemy's psycopg ping switches the connection to autocommit,
runs `SELECT 1` and switches back in a `finally`. A signal handler that raises between the statement's
sending and its answer — the README's `sys.exit` on SIGTERM, as Docker, Kubernetes and systemd stop a
service — leaves the statement unanswered, and switching back then raises "can't change 'autocommit'
now", which replaced the `SystemExit`: the host did not stop, and the strict `track` that was writing
returned "audit log unavailable". SQLAlchemy's `handle_error` event sees the ping's error: the
interruption under it is raised instead, and the pool discards the connection as for any
interrupted checkout.
"""

from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext


def let_interrupted_pings_stop(engine: Engine) -> None:
    """Raise the interruption (`SystemExit`, `KeyboardInterrupt`) an error of `engine`'s pings hides."""
    if not event.contains(engine, "handle_error", _raise_interruption):
        event.listen(engine, "handle_error", _raise_interruption)


def _raise_interruption(context: ExceptionContext) -> None:
    if not context.is_pre_ping:
        return
    hidden = context.original_exception.__context__
    while hidden is not None:
        if not isinstance(hidden, Exception):
            raise hidden
        hidden = hidden.__context__
