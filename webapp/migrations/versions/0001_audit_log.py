"""The audit log: one row per message, and one per delivery outcome.

Revision ID: 0001_audit_log
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0001_audit_log'
down_revision = None
branch_labels = None
depends_on = None
# What downgrade() deletes for good: `event-catalog db downgrade` asks for --yes first.
downgrade_drops = "the audit log (audit_entries, delivery_attempts)"

def upgrade() -> None:
    op.create_table('audit_entries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('message_id', sa.String(length=64), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('timestamp', sa.DateTime(timezone=True), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('event', sa.String(length=255), nullable=True),
    sa.Column('user_id', sa.String(length=255), nullable=True),
    sa.Column('project_id', sa.BigInteger(), nullable=True),
    sa.Column('cluster_id', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=255), nullable=True),
    sa.Column('catalog_version', sa.String(length=32), nullable=True),
    sa.Column('http_status', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entries')),
    sa.UniqueConstraint('message_id', name=op.f('uq_audit_entries_message_id'))
    )
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.create_index('ix_audit_entries_cluster_id_recorded_at', ['cluster_id', 'recorded_at'], unique=False)
        batch_op.create_index('ix_audit_entries_event_recorded_at', ['event', 'recorded_at'], unique=False)
        batch_op.create_index('ix_audit_entries_project_id_recorded_at', ['project_id', 'recorded_at'], unique=False)
        batch_op.create_index('ix_audit_entries_recorded_at_id', ['recorded_at', 'id'], unique=False)
        batch_op.create_index('ix_audit_entries_source_recorded_at', ['source', 'recorded_at'], unique=False)
        batch_op.create_index('ix_audit_entries_status_recorded_at', ['status', 'recorded_at'], unique=False)
        batch_op.create_index('ix_audit_entries_user_id_recorded_at', ['user_id', 'recorded_at'], unique=False)

    op.create_table('delivery_attempts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('message_id', sa.String(length=64), nullable=False),
    sa.Column('attempted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('http_status', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('latency_ms', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_attempts'))
    )
    with op.batch_alter_table('delivery_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delivery_attempts_message_id'), ['message_id'], unique=False)

def downgrade() -> None:
    with op.batch_alter_table('delivery_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_delivery_attempts_message_id'))

    op.drop_table('delivery_attempts')
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_entries_user_id_recorded_at')
        batch_op.drop_index('ix_audit_entries_status_recorded_at')
        batch_op.drop_index('ix_audit_entries_source_recorded_at')
        batch_op.drop_index('ix_audit_entries_recorded_at_id')
        batch_op.drop_index('ix_audit_entries_project_id_recorded_at')
        batch_op.drop_index('ix_audit_entries_event_recorded_at')
        batch_op.drop_index('ix_audit_entries_cluster_id_recorded_at')

    op.drop_table('audit_entries')
