"""The tester: its sends (idempotency, round-trip times), the team's scope presets, and the
destination each audited message went to (a name and a key fingerprint, never the key).

Revision ID: 0003_tester
Revises: 0002_catalog_versions
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0003_tester'
down_revision = '0002_catalog_versions'
branch_labels = None
depends_on = None
# What downgrade() deletes for good: `event-catalog db downgrade` asks for --yes first.
downgrade_drops = "the tester's sends and scope presets (tester_sends, scope_presets)"

def upgrade() -> None:
    op.create_table('scope_presets',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('project_id', sa.BigInteger(), nullable=True),
    sa.Column('cluster_id', sa.BigInteger(), nullable=True),
    sa.Column('registry_id', sa.BigInteger(), nullable=True),
    sa.Column('app_name', sa.String(length=255), nullable=True),
    sa.Column('app_namespace', sa.String(length=255), nullable=True),
    sa.Column('chart_name', sa.String(length=255), nullable=True),
    sa.Column('created_by', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scope_presets')),
    sa.UniqueConstraint('name', name=op.f('uq_scope_presets_name'))
    )
    op.create_table('tester_sends',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('message_id', sa.String(length=64), nullable=False),
    sa.Column('form_token', sa.String(length=64), nullable=True),
    sa.Column('actor', sa.String(length=255), nullable=False),
    sa.Column('round_trip_ms', sa.Float(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tester_sends')),
    sa.UniqueConstraint('form_token', name=op.f('uq_tester_sends_form_token')),
    sa.UniqueConstraint('message_id', name=op.f('uq_tester_sends_message_id'))
    )
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('destination', sa.String(length=64), nullable=True))

def downgrade() -> None:
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_column('destination')

    op.drop_table('tester_sends')
    op.drop_table('scope_presets')
