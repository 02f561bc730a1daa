"""Insight: indexes the digest's aggregates use, contact volumes, and the digests already posted.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from escalator.store.types import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_escalations_raised_at", "escalations", ["raised_at"])
    op.create_index("ix_escalations_claimed_at", "escalations", ["claimed_at"])
    op.create_index("ix_escalations_resolved_at", "escalations", ["resolved_at"])
    op.create_index("ix_escalations_closed_at", "escalations", ["closed_at"])
    op.create_index("ix_escalations_account_number_raised_at", "escalations", ["account_number", "raised_at"])
    op.create_index("ix_escalation_events_at", "escalation_events", ["at"])
    op.create_table(
        "contact_volumes",
        sa.Column("day", sa.Date()),
        sa.Column("contacts", sa.Integer(), nullable=False),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("day", name="pk_contact_volumes"),
    )
    op.create_table(
        "digests",
        sa.Column("day", sa.Date()),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("day", name="pk_digests"),
    )


def downgrade() -> None:
    op.drop_table("digests")
    op.drop_table("contact_volumes")
    for name in (
        "ix_escalation_events_at",
        "ix_escalations_account_number_raised_at",
        "ix_escalations_closed_at",
        "ix_escalations_resolved_at",
        "ix_escalations_claimed_at",
        "ix_escalations_raised_at",
    ):
        op.drop_index(name)
