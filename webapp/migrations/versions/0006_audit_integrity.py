"""Audit integrity: entries chained per writer, purge checkpoints, sealed personal data, attributed attempts.

Also indexes the remaining audit search filters (type, actor, catalog version) with the time.

Entries written before this revision are chained here, oldest first, under one writer of their own
(`migration:0006_audit_integrity`), with the chain key the application is configured with
(`AUDIT_CHAIN_KEY`): run `event-catalog db upgrade` with the same environment as the application.

Revision ID: 0006_audit_integrity
Revises: 0005_users
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from flask import current_app

from analytics.chain import GENESIS, IMMUTABLE_FIELDS, entry_hash

# revision identifiers, used by Alembic.
revision = '0006_audit_integrity'
down_revision = "0005_users"
branch_labels = None
depends_on = None
# What downgrade() deletes for good: `event-catalog db downgrade` asks for --yes first.
downgrade_drops = "the audit log's hash chain and purge checkpoints (audit_checkpoints)"

BACKFILL_WRITER = 'migration:0006_audit_integrity'
BATCH = 5000


def _entries():
    return sa.table(
        'audit_entries',
        sa.column('id', sa.BigInteger()),
        sa.column('message_id', sa.String()),
        sa.column('recorded_at', sa.DateTime(timezone=True)),
        sa.column('timestamp', sa.DateTime(timezone=True)),
        sa.column('type', sa.String()),
        sa.column('event', sa.String()),
        sa.column('user_id', sa.String()),
        sa.column('project_id', sa.BigInteger()),
        sa.column('cluster_id', sa.BigInteger()),
        sa.column('source', sa.String()),
        sa.column('actor', sa.String()),
        sa.column('catalog_version', sa.String()),
        sa.column('payload', sa.JSON()),
        sa.column('encrypted_personal_data', sa.Text()),
        sa.column('writer_id', sa.String()),
        sa.column('seq', sa.BigInteger()),
        sa.column('prev_hash', sa.String()),
        sa.column('entry_hash', sa.String()),
    )


def _chain_existing_entries():
    """Chain what the log already holds, in time order, in batches (the log may be large)."""
    key = str(current_app.config['AUDIT_CHAIN_KEY']).encode()
    entries = _entries()
    connection = op.get_bind()
    fields = [entries.c[name] for name in IMMUTABLE_FIELDS]
    seq, head, after = 0, GENESIS, None
    while True:
        query = sa.select(entries.c.id, *fields).order_by(entries.c.recorded_at, entries.c.id).limit(BATCH)
        if after is not None:
            query = query.where(sa.tuple_(entries.c.recorded_at, entries.c.id) > sa.tuple_(*after))
        rows = connection.execute(query).mappings().all()
        if not rows:
            return
        links = []
        for row in rows:
            seq += 1
            digest = entry_hash(key, writer_id=BACKFILL_WRITER, seq=seq, prev_hash=head, fields=row)
            links.append({'row_id': row['id'], 'w': BACKFILL_WRITER, 's': seq, 'p': head, 'h': digest})
            head = digest
        connection.execute(
            entries.update()
            .where(entries.c.id == sa.bindparam('row_id'))
            .values(writer_id=sa.bindparam('w'), seq=sa.bindparam('s'), prev_hash=sa.bindparam('p'),
                    entry_hash=sa.bindparam('h')),
            links,
        )
        after = (rows[-1]['recorded_at'], rows[-1]['id'])


def upgrade() -> None:
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('encrypted_personal_data', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('writer_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('seq', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('entry_hash', sa.String(length=64), nullable=True))

    _chain_existing_entries()

    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.alter_column('writer_id', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('seq', existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('entry_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_audit_entries_writer_id'), ['writer_id', 'seq'])
        batch_op.create_index('ix_audit_entries_type_recorded_at', ['type', 'recorded_at'], unique=False)
        batch_op.create_index('ix_audit_entries_actor_recorded_at', ['actor', 'recorded_at'], unique=False)
        batch_op.create_index(
            'ix_audit_entries_catalog_version_recorded_at', ['catalog_version', 'recorded_at'], unique=False
        )

    with op.batch_alter_table('delivery_attempts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('actor', sa.String(length=255), nullable=True))

    op.create_table('audit_checkpoints',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('writer_id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('entry_hash', sa.String(length=64), nullable=False),
    sa.Column('purge_message_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('checkpoint_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_checkpoints'))
    )
    with op.batch_alter_table('audit_checkpoints', schema=None) as batch_op:
        batch_op.create_index('ix_audit_checkpoints_writer_id_seq', ['writer_id', 'seq'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('audit_checkpoints', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_checkpoints_writer_id_seq')

    op.drop_table('audit_checkpoints')
    with op.batch_alter_table('delivery_attempts', schema=None) as batch_op:
        batch_op.drop_column('actor')
        batch_op.drop_column('source')

    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_entries_catalog_version_recorded_at')
        batch_op.drop_index('ix_audit_entries_actor_recorded_at')
        batch_op.drop_index('ix_audit_entries_type_recorded_at')
        batch_op.drop_constraint(batch_op.f('uq_audit_entries_writer_id'), type_='unique')
        batch_op.drop_column('entry_hash')
        batch_op.drop_column('prev_hash')
        batch_op.drop_column('seq')
        batch_op.drop_column('writer_id')
        batch_op.drop_column('encrypted_personal_data')
