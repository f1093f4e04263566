"""Erasure requests: the entries whose sealed personal data `audit erase` removed, and their proof.

`audit erase --user-id ID` clears `encrypted_personal_data` on that user's entries. Their chain hash
covers it, so each erased entry gets a row here whose own keyed hash covers the entry as erased
(`analytics.chain.erasure_hash`): `audit verify` checks an erased entry against it. A plain table on
both databases (a few rows per request; not partitioned). Nothing is backfilled: no entry was erased
before this revision. The library's writers never write it, so libraries at 0011 to 0020 still write
a database at this revision: `oldest_writer` stays where 0011 put it.

Revision ID: 0021_audit_erasures
Revises: 0020_scope_preset_name_key
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0021_audit_erasures"
down_revision = "0020_scope_preset_name_key"
branch_labels = None
depends_on = None
# What downgrade() deletes for good: `event-catalog db downgrade` asks for --yes first.
downgrade_drops = (
    "the erasure records that keep erased entries verifying (audit_erasures: `audit verify` then reports "
    "each as edited)"
)


def upgrade() -> None:
    op.create_table(
        "audit_erasures",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("erasure_message_id", sa.String(length=64), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_digest", sa.String(length=64), nullable=False),
        sa.Column("erasure_hash", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_erasures")),
        sa.UniqueConstraint("message_id", name=op.f("uq_audit_erasures_message_id")),
    )


def downgrade() -> None:
    op.drop_table("audit_erasures")
