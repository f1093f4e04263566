"""Catalog versions: the schema bundle of every catalog version a process has run with.

Revision ID: 0002_catalog_versions
Revises: 0001_audit_log
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0002_catalog_versions'
down_revision = '0001_audit_log'
branch_labels = None
depends_on = None
# What downgrade() deletes for good: `event-catalog db downgrade` asks for --yes first.
downgrade_drops = "the catalog's version history (catalog_versions)"

def upgrade() -> None:
    op.create_table('catalog_versions',
    sa.Column('version', sa.String(length=32), nullable=False),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('bundle', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('version', name=op.f('pk_catalog_versions'))
    )
    with op.batch_alter_table('catalog_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_catalog_versions_first_seen'), ['first_seen'], unique=False)

def downgrade() -> None:
    with op.batch_alter_table('catalog_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_catalog_versions_first_seen'))

    op.drop_table('catalog_versions')
