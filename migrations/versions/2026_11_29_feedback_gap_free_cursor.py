"""Feedback feed: a gap-free cursor on PostgreSQL (writer's transaction id stamped by a trigger) and its indexes.

Revision ID: feedback_1
Revises: security_1
Create Date: 2026-11-29 07:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "feedback_1"
down_revision: str | None = "security_1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("feedback_event", schema=None) as batch_op:
        batch_op.create_index("ix_feedback_event_org_tx", ["organisation_id", "tx_id", "id"], unique=False)
        batch_op.create_index("ix_feedback_event_tx", ["tx_id", "id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        # The trigger, not the writer, records the transaction: no insert can leave it out or get it wrong.
        op.execute(
            """
            CREATE FUNCTION feedback_event_stamp_tx() RETURNS trigger AS $$
            BEGIN
                NEW.tx_id := pg_current_xact_id()::text::bigint;
                RETURN NEW;
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER feedback_event_stamp_tx BEFORE INSERT ON feedback_event "
            "FOR EACH ROW EXECUTE FUNCTION feedback_event_stamp_tx()"
        )
        # Rows written before this revision belong to transactions long finished.
        op.execute("UPDATE feedback_event SET tx_id = 0 WHERE tx_id IS NULL")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS feedback_event_stamp_tx ON feedback_event")
        op.execute("DROP FUNCTION IF EXISTS feedback_event_stamp_tx()")
    with op.batch_alter_table("feedback_event", schema=None) as batch_op:
        batch_op.drop_index("ix_feedback_event_tx")
        batch_op.drop_index("ix_feedback_event_org_tx")
