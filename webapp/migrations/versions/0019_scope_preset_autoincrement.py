"""Scope preset ids are never reused on SQLite, so a stale page cannot act on a newer preset.

`scope_presets.id` was a plain `INTEGER PRIMARY KEY`, for which SQLite hands out the largest id in
the table plus one: once the newest preset was deleted, the next one saved took its id. A teammate's
open tester then applied the new preset's ids under the old preset's chip, and a stale Delete
button deleted it ("Deleted the preset 'PROD-walk'"). SQLite rebuilds the table with AUTOINCREMENT,
which never hands out an id again; the rows keep theirs. An id deleted before this upgrade, above
every row kept, can still come back once. PostgreSQL's sequence never reused ids: nothing changes
there. The library never reads or writes `scope_presets`, so `oldest_writer` stays where 0011 put it.

Revision ID: 0019_scope_preset_autoincrement
Revises: 0018_scope_preset_ids
Create Date: 2026-12-08
"""

from alembic import op

revision = "0019_scope_preset_autoincrement"
down_revision = "0018_scope_preset_ids"
branch_labels = None
depends_on = None


def _rebuild(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "scope_presets", recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
    ):
        pass


def upgrade() -> None:
    _rebuild(True)


def downgrade() -> None:
    _rebuild(False)
