"""Reports: the facts the summary counts by, copied onto the rows it counts, so a period's figures read one slim
index per table and join nothing. A child and a concern carry their referral's time of receipt (and a child its
agency and whether the referral raises neglect); a referral carries how many children it names and whether the
referrer has been sent the decision. None of the copies ever changes, except `told`, set with the decision_made
event. The id-order indexes the joins needed go.

Revision ID: reports_2
Revises: reports_1
Create Date: 2026-11-29 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from schemas.types import UTCDateTime

revision: str = "reports_2"
down_revision: str | None = "reports_1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEGLECT = sa.text("category = 'neglect'")
REFERRAL_REPORT = ["received_at", "agency", "decided", "decided_on_time", "decision_due_at", "decided_at"]
CHILD_REPORT = [
    "outcome",
    "voice_not_obtained_reason",
    "neglect",
    "unborn",
    "age_years",
    "step_down",
    "voice_heard",
    "referrals_12m",
]
OLD_CHILD_REPORT = [
    "referral_id",
    "outcome",
    "step_down",
    "voice_heard",
    "voice_not_obtained_reason",
    "referrals_12m",
    "unborn",
    "age_years",
]

# Each table is rewritten once. UPDATE ... FROM reads the same on PostgreSQL and on SQLite (3.33 and later).
BACKFILL = (
    """
    UPDATE referral SET
        child_count = (SELECT count(*) FROM child WHERE child.referral_id = referral.id),
        told = EXISTS (
            SELECT 1 FROM feedback_event
            WHERE feedback_event.referral_id = referral.id AND feedback_event.event = 'decision_made'
        )
    """,
    """
    UPDATE child SET received_at = r.received_at, agency = r.agency, neglect = (n.referral_id IS NOT NULL)
    FROM referral AS r LEFT JOIN referral_concern AS n ON n.referral_id = r.id AND n.category = 'neglect'
    WHERE r.id = child.referral_id
    """,
    """
    UPDATE referral_concern SET received_at = r.received_at
    FROM referral AS r
    WHERE r.id = referral_concern.referral_id
    """,
)


def upgrade() -> None:
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.add_column(sa.Column("child_count", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("told", sa.Boolean(), nullable=True))
    with op.batch_alter_table("child", schema=None) as batch_op:
        batch_op.add_column(sa.Column("received_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("agency", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("neglect", sa.Boolean(), nullable=True))
    with op.batch_alter_table("referral_concern", schema=None) as batch_op:
        batch_op.add_column(sa.Column("received_at", UTCDateTime(timezone=True), nullable=True))
    for statement in BACKFILL:
        op.execute(statement)

    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.alter_column("child_count", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("told", existing_type=sa.Boolean(), nullable=False)
        batch_op.drop_index("ix_referral_report_by_id")
        batch_op.drop_index("ix_referral_report")
        batch_op.create_index("ix_referral_report", [*REFERRAL_REPORT, "told", "child_count"], unique=False)
    with op.batch_alter_table("child", schema=None) as batch_op:
        batch_op.alter_column("received_at", existing_type=UTCDateTime(timezone=True), nullable=False)
        batch_op.alter_column("agency", existing_type=sa.String(length=32), nullable=False)
        batch_op.alter_column("neglect", existing_type=sa.Boolean(), nullable=False)
        batch_op.drop_index("ix_child_report")
        batch_op.create_index("ix_child_report", ["received_at", "agency", *CHILD_REPORT], unique=False)
    with op.batch_alter_table("referral_concern", schema=None) as batch_op:
        batch_op.alter_column("received_at", existing_type=UTCDateTime(timezone=True), nullable=False)
        batch_op.drop_index("ix_referral_concern_neglect")
        batch_op.create_index("ix_referral_concern_report", ["received_at", "category"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("referral_concern", schema=None) as batch_op:
        batch_op.drop_index("ix_referral_concern_report")
        batch_op.create_index(
            "ix_referral_concern_neglect", ["referral_id"], unique=False, postgresql_where=NEGLECT, sqlite_where=NEGLECT
        )
        batch_op.drop_column("received_at")
    with op.batch_alter_table("child", schema=None) as batch_op:
        batch_op.drop_index("ix_child_report")
        batch_op.create_index("ix_child_report", OLD_CHILD_REPORT, unique=False)
        batch_op.drop_column("neglect")
        batch_op.drop_column("agency")
        batch_op.drop_column("received_at")
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.drop_index("ix_referral_report")
        batch_op.create_index("ix_referral_report", [*REFERRAL_REPORT, "id"], unique=False)
        batch_op.create_index("ix_referral_report_by_id", ["id", *REFERRAL_REPORT], unique=False)
        batch_op.drop_column("told")
        batch_op.drop_column("child_count")
