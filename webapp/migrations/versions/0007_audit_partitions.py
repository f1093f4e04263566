"""Audit partitions: `audit_entries` range-partitioned by `recorded_at` on PostgreSQL; message ids kept unique aside.

A partitioned table's unique keys must include the partition key, so the message id's uniqueness
moves to `audit_message_ids` (both databases), the primary key becomes (id, recorded_at) and the
chain's unique key (writer_id, seq, recorded_at) on PostgreSQL.

On PostgreSQL the populated table is converted in this transaction: the old table is renamed, a
partitioned one with the same columns (and the same id sequence, so ids carry on) takes its name,
partitions are created for every period from the oldest entry's to the newest's
(`AUDIT_PARTITION_INTERVAL`, monthly by default), rows are copied with their ids, the old table is
dropped, then the keys and the indexes the old table had are built on the new one, and the current
and next `AUDIT_PARTITIONS_AHEAD` periods plus the default partition are created
(`analytics.partitions`). It rewrites the whole table once and holds it locked meanwhile: plan a
maintenance window for a large log. SQLite keeps one plain table.

Revision ID: 0007_audit_partitions
Revises: 0006_audit_integrity
Create Date: 2026-11-23
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from flask import current_app

from analytics import partitions

# revision identifiers, used by Alembic.
revision = "0007_audit_partitions"
down_revision = "0006_audit_integrity"
branch_labels = None
depends_on = None

OLD = "audit_entries_unpartitioned"
NEW = "audit_entries_partitioned"
SEQUENCE = "audit_entries_id_seq"


def _indexes(connection, table):
    """The table's plain indexes (name, columns), to build them again on its replacement."""
    return [
        (index["name"], index["column_names"])
        for index in sa.inspect(connection).get_indexes(table)
        if not index.get("unique")
    ]


def _partition_entries(connection):
    interval = partitions.Interval(current_app.config["AUDIT_PARTITION_INTERVAL"])
    ahead = int(current_app.config["AUDIT_PARTITIONS_AHEAD"])
    indexes = _indexes(connection, "audit_entries")
    op.execute(f"ALTER TABLE audit_entries RENAME TO {OLD}")
    op.execute(f"ALTER SEQUENCE {SEQUENCE} OWNED BY NONE")
    op.execute(f"CREATE TABLE audit_entries (LIKE {OLD} INCLUDING DEFAULTS) PARTITION BY RANGE (recorded_at)")
    oldest, newest = connection.execute(sa.text(f"SELECT min(recorded_at), max(recorded_at) FROM {OLD}")).one()
    if oldest is not None:
        for start, end in partitions.periods(interval, oldest, newest):
            partitions.create(connection, start, end)
    op.execute(f"INSERT INTO audit_entries SELECT * FROM {OLD}")
    op.execute(f"DROP TABLE {OLD}")
    op.execute(f"ALTER SEQUENCE {SEQUENCE} OWNED BY audit_entries.id")
    op.create_primary_key("pk_audit_entries", "audit_entries", ["id", "recorded_at"])
    op.create_unique_constraint("uq_audit_entries_writer_id", "audit_entries", ["writer_id", "seq", "recorded_at"])
    for name, columns in indexes:
        op.create_index(name, "audit_entries", columns)
    op.create_index("ix_audit_entries_message_id", "audit_entries", ["message_id"])
    partitions.extend(connection, interval=interval, ahead=ahead, now=datetime.now(UTC))


def _unpartition_entries(connection):
    indexes = [(n, c) for n, c in _indexes(connection, "audit_entries") if n != "ix_audit_entries_message_id"]
    op.execute(f"ALTER TABLE audit_entries RENAME TO {NEW}")
    op.execute(f"ALTER SEQUENCE {SEQUENCE} OWNED BY NONE")
    op.execute(f"CREATE TABLE audit_entries (LIKE {NEW} INCLUDING DEFAULTS)")
    op.execute(f"INSERT INTO audit_entries SELECT * FROM {NEW}")
    op.execute(f"DROP TABLE {NEW} CASCADE")
    op.execute(f"ALTER SEQUENCE {SEQUENCE} OWNED BY audit_entries.id")
    op.create_primary_key("pk_audit_entries", "audit_entries", ["id"])
    op.create_unique_constraint("uq_audit_entries_message_id", "audit_entries", ["message_id"])
    op.create_unique_constraint("uq_audit_entries_writer_id", "audit_entries", ["writer_id", "seq"])
    for name, columns in indexes:
        op.create_index(name, "audit_entries", columns)


def upgrade() -> None:
    op.create_table(
        "audit_message_ids",
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_audit_message_ids")),
    )
    op.execute("INSERT INTO audit_message_ids (message_id) SELECT message_id FROM audit_entries")
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        _partition_entries(connection)
        return
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_constraint("uq_audit_entries_message_id", type_="unique")
        batch_op.drop_constraint("uq_audit_entries_writer_id", type_="unique")
        batch_op.create_unique_constraint("uq_audit_entries_writer_id", ["writer_id", "seq", "recorded_at"])
        batch_op.create_index("ix_audit_entries_message_id", ["message_id"], unique=False)


def downgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        _unpartition_entries(connection)
    else:
        with op.batch_alter_table("audit_entries", schema=None) as batch_op:
            batch_op.drop_index("ix_audit_entries_message_id")
            batch_op.drop_constraint("uq_audit_entries_writer_id", type_="unique")
            batch_op.create_unique_constraint("uq_audit_entries_writer_id", ["writer_id", "seq"])
            batch_op.create_unique_constraint("uq_audit_entries_message_id", ["message_id"])
    op.drop_table("audit_message_ids")
