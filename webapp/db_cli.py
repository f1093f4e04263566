"""The `db` commands: Flask-Migrate's, with the ones that change the database said as the CLI says things.

Flask-Migrate ends a failed command with an `Error: …` log line (several JSON lines under
`LOG_FORMAT=json`) and exit 1, and its `upgrade` knows nothing of a database that a newer release
migrated: a rolled-back image's start script stopped on Alembic's "Can't locate revision", over and
over. `upgrade`, `downgrade` and `stamp` here call Alembic directly instead: a database at a
revision newer than this code's gets the dashboard's own advice, and every refusal (an unknown
revision) is one `error:` line, exit 2. Offline mode (`--sql`) is refused with the reason, and a
downgrade that deletes data needs `--yes`. The other commands (`current`, `history` and the
developer's `migrate`, `revision`, …) are Flask-Migrate's.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager

import click
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from flask import current_app, g
from flask.cli import with_appcontext

from analytics.audit import is_newer_revision, schema_revision, sqlite_problem
from webapp.cli import fail
from webapp.cli_secrets import declared, uses_secrets
from webapp.config import CHAIN_KEY
from webapp.extensions import db
from webapp.offline_migrations import OFFLINE_REFUSED
from webapp.schema_guard import schema_problem


def _config() -> Config:
    """Alembic's configuration as Flask-Migrate builds it (the group's `--directory` included)."""
    config: Config = current_app.extensions["migrate"].migrate.get_config(g.get("directory"))
    return config


@contextmanager
def _one_line_errors() -> Iterator[None]:
    """Alembic's refusals (an unknown revision, a relative one that goes too far) in one line."""
    try:
        yield
    except (CommandError, RevisionError) as exc:
        fail(str(exc))


# Alembic offers --sql: one who knows it gets the reason, not "no such option".
OFFLINE_OPTION = click.option("--sql", "offline", is_flag=True, hidden=True)


def current_revision() -> str | None:
    """The database's revision; one that a newer release migrated ends the command, as the dashboard
    would answer (this code's migrations cannot take it anywhere).

    None for a database never migrated, and for a SQLite file that is not there yet: `db upgrade`
    creates it.
    """
    if sqlite_problem(db.engine) is not None:
        return None
    revision = schema_revision(db.engine)
    if revision is not None and is_newer_revision(revision):
        problem = schema_problem(revision) or ""
        fail(problem[:1].lower() + problem[1:])
    return revision


@uses_secrets(CHAIN_KEY)
@click.command("upgrade")
@click.argument("revision", default="head")
@OFFLINE_OPTION
@with_appcontext
def upgrade_command(revision: str, offline: bool) -> None:
    """Bring the database to this version's schema (or up to REVISION).

    A database that a newer release migrated is refused: deploy that release.
    """
    if offline:
        fail(OFFLINE_REFUSED)
    current_revision()
    with _one_line_errors():
        command.upgrade(_config(), revision)


def deleted_by_downgrade(current: str, target: str) -> list[str]:
    """What undoing the migrations from `current` down to `target` deletes for good, oldest first:
    each migration's `downgrade_drops` (an upgrade adds its tables or columns again, empty)."""
    script = ScriptDirectory.from_config(_config())
    with _one_line_errors():
        undone = list(script.iterate_revisions(current, target, select_for_downgrade=True))
    return [drops for step in reversed(undone) if (drops := getattr(step.module, "downgrade_drops", None))]


@uses_secrets(CHAIN_KEY)
@click.command("downgrade")
@click.argument("revision", default="-1")
@click.option("--yes", "confirmed", is_flag=True, help="Downgrade even when it deletes data for good.")
@OFFLINE_OPTION
@with_appcontext
def downgrade_command(revision: str, confirmed: bool, offline: bool) -> None:
    """Undo migrations down to REVISION (by default the last one).

    A downgrade that deletes data (the audit log, accounts, API tokens, their expiry, …) needs --yes:
    upgrading again brings none of it back.
    """
    if offline:
        fail(OFFLINE_REFUSED)
    current = current_revision()
    lost = deleted_by_downgrade(current, revision) if current is not None and not confirmed else []
    if lost:
        fail(
            f"this downgrade deletes {', '.join(lost)} for good (upgrading again brings none of it "
            "back): back the database up, and pass --yes if you mean it"
        )
    with _one_line_errors():
        command.downgrade(_config(), revision)


@uses_secrets()
@click.command("stamp")
@click.argument("revision", default="head")
@click.option(
    "--purge", is_flag=True, help="Replace the recorded revision even when this version does not know it."
)
@with_appcontext
def stamp_command(revision: str, purge: bool) -> None:
    """Record REVISION as the database's without running any migration."""
    with _one_line_errors():
        command.stamp(_config(), revision, purge=purge)


def db_group() -> click.Group:
    """Flask-Migrate's `db` group, its `--directory` and other commands kept, with the ones above.

    Only `upgrade` and `downgrade` run migrations, which key the audit log's chain checkpoints with
    `AUDIT_CHAIN_KEY`; Flask-Migrate's commands read nothing keyed, so they declare no secret."""
    from flask_migrate.cli import db as flask_migrate_db

    # Copies: Flask-Migrate's command objects are shared by every app built in the process.
    commands = {name: declared(copy.copy(command), {}) for name, command in flask_migrate_db.commands.items()}
    group = click.Group(
        flask_migrate_db.name,
        commands=commands,
        callback=flask_migrate_db.callback,
        params=flask_migrate_db.params,
        help=flask_migrate_db.help,
    )
    for replacement in (upgrade_command, downgrade_command, stamp_command):
        group.add_command(replacement)
    return group
