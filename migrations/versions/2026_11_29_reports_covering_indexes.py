"""Reports: covering indexes, so a year's summary reads slim indexes instead of the wide referral and child rows,
and joins them in referral id order (merge joins) instead of hashing a million ids for each join.

Revision ID: reports_1
Revises: feedback_1
Create Date: 2026-11-29 08:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "reports_1"
down_revision: str | None = "feedback_1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DECISION_MADE = sa.text("event = 'decision_made'")
NEGLECT = sa.text("category = 'neglect'")


def upgrade() -> None:
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.create_index(
            "ix_referral_report",
            ["received_at", "agency", "decided", "decided_on_time", "decision_due_at", "decided_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_referral_report_by_id",
            ["id", "received_at", "agency", "decided", "decided_on_time", "decision_due_at", "decided_at"],
            unique=False,
        )
    with op.batch_alter_table("referral_concern", schema=None) as batch_op:
        batch_op.create_index(
            "ix_referral_concern_neglect",
            ["referral_id"],
            unique=False,
            postgresql_where=NEGLECT,
            sqlite_where=NEGLECT,
        )
    with op.batch_alter_table("child", schema=None) as batch_op:
        batch_op.create_index(
            "ix_child_report",
            [
                "referral_id",
                "outcome",
                "step_down",
                "voice_heard",
                "voice_not_obtained_reason",
                "referrals_12m",
                "unborn",
                "age_years",
            ],
            unique=False,
        )
    with op.batch_alter_table("feedback_event", schema=None) as batch_op:
        batch_op.create_index(
            "ix_feedback_event_decision_made",
            ["referral_id"],
            unique=False,
            postgresql_where=DECISION_MADE,
            sqlite_where=DECISION_MADE,
        )


def downgrade() -> None:
    with op.batch_alter_table("feedback_event", schema=None) as batch_op:
        batch_op.drop_index("ix_feedback_event_decision_made")
    with op.batch_alter_table("child", schema=None) as batch_op:
        batch_op.drop_index("ix_child_report")
    with op.batch_alter_table("referral_concern", schema=None) as batch_op:
        batch_op.drop_index("ix_referral_concern_neglect")
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.drop_index("ix_referral_report_by_id")
        batch_op.drop_index("ix_referral_report")
