"""Scope preset names are unique as people read them, by one rule on SQLite and PostgreSQL.

Saving compared `lower(name)`: PostgreSQL folds every script, SQLite only ASCII, so `ÜBERSICHT Berlin`
and `übersicht berlin` were two presets on SQLite and one on PostgreSQL; on both, `Café` typed
composed and decomposed (`Cafe` + U+0301), or `東京` and `東京` + a zero-width space, were two chips that
look the same. `name_key` holds the name composed (NFC), case-folded and without format characters
(Unicode Cf), under a unique constraint. Upgrading fills it for every preset; two presets already
saved whose names compare alike both stay, as they are (nothing is renamed or deleted): the oldest
keeps the plain key, so `send --preset` finds it, and each later one's key ends in a unit separator
(U+001F, which no name may hold) and its id. The downgrade drops the column: nothing is lost, it is
computed from the names. The library never reads or writes `scope_presets`, so libraries at 0009 to
0019 still write a database at this revision: `oldest_writer` stays where 0011 put it.

Revision ID: 0020_scope_preset_name_key
Revises: 0019_scope_preset_autoincrement
Create Date: 2026-12-09
"""

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0020_scope_preset_name_key"
down_revision = "0019_scope_preset_autoincrement"
branch_labels = None
depends_on = None


def _key(name: str) -> str:
    """`webapp.readable_names.compared` as of this revision (a migration does not follow later code)."""
    visible = "".join(char for char in name if unicodedata.category(char) != "Cf")
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", visible).casefold())


# Rebuilding the table on SQLite keeps the AUTOINCREMENT 0019 gave it.
_SQLITE_TABLE = {"sqlite_autoincrement": True}


def upgrade() -> None:
    with op.batch_alter_table("scope_presets") as batch:
        batch.add_column(sa.Column("name_key", sa.String(length=255), nullable=True))
    presets = sa.table(
        "scope_presets", sa.column("id", sa.BigInteger()), sa.column("name", sa.String()), sa.column("name_key")
    )
    connection = op.get_bind()
    taken: set[str] = set()
    for preset_id, name in connection.execute(sa.select(presets.c.id, presets.c.name).order_by(presets.c.id)):
        key = _key(name)
        if key in taken:
            key = f"{key}\x1f{preset_id}"
        taken.add(key)
        connection.execute(presets.update().where(presets.c.id == preset_id).values(name_key=key))
    with op.batch_alter_table("scope_presets", table_kwargs=_SQLITE_TABLE) as batch:
        batch.alter_column("name_key", existing_type=sa.String(length=255), nullable=False)
        batch.create_unique_constraint(batch.f("uq_scope_presets_name_key"), ["name_key"])


def downgrade() -> None:
    with op.batch_alter_table("scope_presets", table_kwargs=_SQLITE_TABLE) as batch:
        batch.drop_constraint(batch.f("uq_scope_presets_name_key"), type_="unique")
        batch.drop_column("name_key")
