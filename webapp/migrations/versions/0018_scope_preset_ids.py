"""Scope presets hold their ids as one JSON object, so that a preset holds the ids of any scope.

The presets table had a column per id of the shipped scopes (`user_id` … `chart_name`). A preset
saved with the id of a scope a fork added (`billing_account_id`) lost it without a word. Upgrading
moves each preset's ids into `ids`, one key per column that held a value, and drops the columns.
The downgrade puts back the columns and the values `ids` has for them. The library never reads or
writes `scope_presets`, so libraries at 0009 to 0017 still write a database at this revision:
`oldest_writer` stays where 0011 put it.

Revision ID: 0018_scope_preset_ids
Revises: 0017_api_token_expiry
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0018_scope_preset_ids"
down_revision = "0017_api_token_expiry"
branch_labels = None
depends_on = None
# What downgrade() deletes for good: `event-catalog db downgrade` asks for --yes first.
downgrade_drops = (
    "the ids of scopes added to the catalog that scope presets hold (scope_presets.ids: the presets "
    "keep their user, project, cluster, registry and application ids)"
)

COLUMNS = {
    "user_id": sa.BigInteger(),
    "project_id": sa.BigInteger(),
    "cluster_id": sa.BigInteger(),
    "registry_id": sa.BigInteger(),
    "app_name": sa.String(length=255),
    "app_namespace": sa.String(length=255),
    "chart_name": sa.String(length=255),
}
"""The columns 0003 made for the shipped scopes' ids, in their order."""

IDS = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _presets() -> sa.TableClause:
    """The table with the old columns and the new one, as both directions read and write it."""
    return sa.table(
        "scope_presets",
        sa.column("id", sa.BigInteger()),
        *(sa.column(name, kind) for name, kind in COLUMNS.items()),
        sa.column("ids", IDS),
    )


def upgrade() -> None:
    with op.batch_alter_table("scope_presets") as batch:
        batch.add_column(sa.Column("ids", IDS, nullable=True))
    presets = _presets()
    connection = op.get_bind()
    for row in connection.execute(sa.select(presets)).mappings().all():
        ids = {name: row[name] for name in COLUMNS if row[name] is not None}
        connection.execute(presets.update().where(presets.c.id == row["id"]).values(ids=ids))
    with op.batch_alter_table("scope_presets") as batch:
        batch.alter_column("ids", existing_type=IDS, nullable=False)
        for name in COLUMNS:
            batch.drop_column(name)


def downgrade() -> None:
    with op.batch_alter_table("scope_presets") as batch:
        for name, kind in COLUMNS.items():
            batch.add_column(sa.Column(name, kind, nullable=True))
    presets = _presets()
    connection = op.get_bind()
    for row in connection.execute(sa.select(presets.c.id, presets.c.ids)).mappings().all():
        values = {name: row["ids"][name] for name in COLUMNS if row["ids"].get(name) is not None}
        connection.execute(presets.update().where(presets.c.id == row["id"]).values(**values))
    with op.batch_alter_table("scope_presets") as batch:
        batch.alter_column("user_id", existing_type=COLUMNS["user_id"], nullable=False)
        batch.drop_column("ids")
