"""When each entry's outcome last changed, kept by triggers: the API's changes feed.

A script that keeps a copy of the log reads it oldest first, and each entry is listed once, as it is
then; an entry's status, HTTP status and error change afterwards (its outcome is recorded, a replay
claims it again, a pending action is closed) and its sealed personal data can be erased. Without
a record of when, a script learned of those changes only by reading everything again.
`changed_at` is that record, and `ix_audit_entries_changed_at_id` the keyset
`/api/audit/entries?order=changed` pages by: partial (`changed_at IS NOT NULL`), so an entry costs
nothing more to write until its outcome changes.

A trigger sets it on every UPDATE that changes one of those columns, in the writer's transaction,
whoever writes: the library at any revision, the dashboard, a hand-made fix. No library names the
column (the model defers it), so the libraries that wrote 0024 still write a database at this
revision, and this one still writes theirs: `oldest_writer` stays where 0011 put it. The time is the database's clock at the row's update (`clock_timestamp()` on
PostgreSQL, not the transaction's start, which a long erasure would leave far behind its commit).
The chain hash covers none of these columns (`analytics.chain.IMMUTABLE_FIELDS`), so verification
is unchanged. Nothing is backfilled: no change was dated before, and an UPDATE of every entry would
rewrite the whole log; the feed starts with the changes made from this revision on.

On PostgreSQL the column is added to the partitioned parent (a catalog change, no rewrite), the
row trigger on the parent is cloned onto every partition, present and future, and the index is
built as 0022's is (`webapp.index_builds`: concurrently, one partition at a time). SQLite has no
BEFORE trigger that can set the row: an AFTER trigger updates it by its id (recursive triggers are
off, and the trigger watches other columns), writing the time as SQLAlchemy writes SQLite times
(`YYYY-MM-DD HH:MM:SS.ffffff`, UTC), so that it compares as text with the times a cursor binds.

Revision ID: 0025_audit_changes
Revises: 0024_event_days_event_index
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

from webapp.index_builds import build_index

revision = "0025_audit_changes"
down_revision = "0024_event_days_event_index"
branch_labels = None
depends_on = None
# What downgrade() deletes for good: `event-catalog db downgrade` asks for --yes first.
downgrade_drops = "when each entry's outcome last changed (audit_entries.changed_at: the API's changes feed)"

NAME = "ix_audit_entries_changed_at_id"
WHERE = "changed_at IS NOT NULL"
WATCHED = ("status", "status_changed_at", "http_status", "error", "encrypted_personal_data")
"""The columns whose change is an outcome's: what the paths that update an entry set."""

POSTGRESQL_TRIGGER = f"""
CREATE FUNCTION audit_entries_mark_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.changed_at := clock_timestamp();
    RETURN NEW;
END $$;

CREATE TRIGGER audit_entries_changed BEFORE UPDATE OF {", ".join(WATCHED)} ON audit_entries
FOR EACH ROW WHEN ({" OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in WATCHED)})
EXECUTE FUNCTION audit_entries_mark_changed();
"""

SQLITE_TRIGGER = f"""
CREATE TRIGGER audit_entries_changed AFTER UPDATE OF {", ".join(WATCHED)} ON audit_entries
FOR EACH ROW WHEN {" OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in WATCHED)}
BEGIN
    UPDATE audit_entries SET changed_at = strftime('%Y-%m-%d %H:%M:%f', 'now') || '000' WHERE id = NEW.id;
END
"""


def upgrade() -> None:
    op.add_column("audit_entries", sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True))
    if _postgresql():
        op.execute(POSTGRESQL_TRIGGER)
        with op.get_context().autocommit_block():
            build_index(op.get_bind(), NAME, "audit_entries", ["changed_at", "id"], where=WHERE)
        return
    op.execute(SQLITE_TRIGGER)
    op.create_index(NAME, "audit_entries", ["changed_at", "id"], unique=False, sqlite_where=sa.text(WHERE))


def downgrade() -> None:
    op.execute("DROP TRIGGER audit_entries_changed" + (" ON audit_entries" if _postgresql() else ""))
    if _postgresql():
        op.execute("DROP FUNCTION audit_entries_mark_changed()")
    op.drop_index(NAME, table_name="audit_entries")
    op.drop_column("audit_entries", "changed_at")


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"
