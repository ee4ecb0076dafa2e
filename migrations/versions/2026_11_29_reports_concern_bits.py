"""Reports: a referral's concern categories as bits on the referral (concern_bits), so the summary counts every
category in its one pass over referrals instead of a second pass over every concern row; the concern rows no
longer need their copy of the time of receipt. Bit positions are those of schemas.enums.CONCERN_BITS, written
out here as they stand at this revision.

Revision ID: reports_3
Revises: reports_2
Create Date: 2026-11-29 13:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from schemas.types import UTCDateTime

revision: str = "reports_3"
down_revision: str | None = "reports_2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CATEGORIES = (
    "neglect",
    "physical_abuse",
    "sexual_abuse",
    "emotional_abuse",
    "domestic_abuse",
    "child_sexual_exploitation",
    "child_criminal_exploitation",
    "fgm",
    "radicalisation",
    "parental_substance_misuse",
    "parental_mental_health",
    "self_harm",
    "missing_from_home",
    "school_attendance",
    "housing",
    "other",
)
BIT = " ".join(f"WHEN '{category}' THEN {1 << position}" for position, category in enumerate(CATEGORIES))
REPORT = [
    "received_at",
    "agency",
    "decided",
    "decided_on_time",
    "decision_due_at",
    "decided_at",
    "told",
    "child_count",
]


def upgrade() -> None:
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.add_column(sa.Column("concern_bits", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE referral SET concern_bits = (SELECT coalesce(sum(CASE category "
        + BIT
        + " ELSE 0 END), 0) FROM referral_concern WHERE referral_concern.referral_id = referral.id)"
    )
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.alter_column("concern_bits", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_index("ix_referral_report")
        batch_op.create_index("ix_referral_report", [*REPORT, "concern_bits"], unique=False)
    with op.batch_alter_table("referral_concern", schema=None) as batch_op:
        batch_op.drop_index("ix_referral_concern_report")
        batch_op.drop_column("received_at")


def downgrade() -> None:
    with op.batch_alter_table("referral_concern", schema=None) as batch_op:
        batch_op.add_column(sa.Column("received_at", UTCDateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE referral_concern SET received_at = r.received_at FROM referral AS r "
        "WHERE r.id = referral_concern.referral_id"
    )
    with op.batch_alter_table("referral_concern", schema=None) as batch_op:
        batch_op.alter_column("received_at", existing_type=UTCDateTime(timezone=True), nullable=False)
        batch_op.create_index("ix_referral_concern_report", ["received_at", "category"], unique=False)
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.drop_index("ix_referral_report")
        batch_op.create_index("ix_referral_report", REPORT, unique=False)
        batch_op.drop_column("concern_bits")
